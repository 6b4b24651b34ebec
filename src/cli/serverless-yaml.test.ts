import assert from "node:assert/strict";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, it } from "node:test";
import { baseFunction } from "./deploy.ts";
import { fromServerlessYaml, updraftRuntime } from "./serverless-yaml.ts";

// As SCF's sample Nodejs12.16-CustomHtml has it (its events shortened).
const CUSTOM_HTML = `component: scf
name: ap-guangzhou_default_API_GW_Html_Demo
org: app
app: API_GW_Html_Demo
stage: dev
inputs:
  name: API_GW_Html_Demo
  src: ./
  description: >-
    This demo is mainly to show how to return custom html in serverless.
  handler: index.main_handler
  runtime: Nodejs12.16
  namespace: default
  region: ap-guangzhou
  memorySize: 128
  timeout: 3
  events:
    - apigw:
        name: serverless
`;

const inputs = (body: string) => `component: scf\ninputs:\n${body}`;

describe("fromServerlessYaml: a Function from SCF's serverless.yaml", () => {
  it("SCF's sample with --runtime: its name, handler, memory and time, and the keys left out named", () => {
    const r = fromServerlessYaml(CUSTOM_HTML, "nodejs24");
    assert.ok(typeof r !== "string", String(r));
    assert.equal(r.fn.metadata.name, "api-gw-html-demo");
    assert.deepEqual(
      {
        runtime: r.fn.spec.runtime,
        handler: r.fn.spec.handler,
        memoryMB: r.fn.spec.memoryMB,
        timeoutSeconds: r.fn.spec.timeoutSeconds,
      },
      { runtime: "nodejs24", handler: "index.main_handler", memoryMB: 128, timeoutSeconds: 3 },
    );
    assert.equal(r.notes.length, 1);
    assert.match(r.notes[0]!, /namespace, region, events are not applied/);
  });

  const refusals: Array<{ why: string; text: string; want: RegExp }> = [
    {
      why: "a runtime Updraft does not run is refused, naming the runtime of its language it has",
      text: CUSTOM_HTML,
      want: /Nodejs12\.16 is not one Updraft runs .*--runtime nodejs24/,
    },
    { why: "no runtime at all: --runtime is needed", text: inputs("  name: f\n"), want: /names no runtime/ },
    {
      why: "another tool's serverless.yaml is not taken for SCF's",
      text: "service: aws-thing\nprovider: {}\n",
      want: /not SCF's/,
    },
    {
      why: "a memory that is not a number is refused, not dropped",
      text: inputs("  runtime: Go1\n  memorySize: big\n"),
      want: /memorySize must be a whole number/,
    },
    { why: "broken YAML says so", text: "component: scf\ninputs: [\n", want: /not YAML/ },
    {
      why: "code in another folder (src: ./src) is refused: the handler would be one folder down, every call 437",
      text: inputs("  runtime: Go1\n  src: ./src\n"),
      want: /src is \.\/src/,
    },
    {
      why: "a Serverless Framework variable is refused, not taken as a literal value",
      text: inputs(`  runtime: Go1\n  environment:\n    variables:\n      KEY: $\{env:KEY}\n`),
      want: /variable \$\{env:KEY\}/,
    },
    {
      why: "environment variables must be a map",
      text: inputs("  runtime: Go1\n  environment:\n    variables: [a, b]\n"),
      want: /environment.variables must be a map/,
    },
  ];
  for (const c of refusals)
    it(c.why, () => {
      const r = fromServerlessYaml(c.text);
      assert.equal(typeof r, "string");
      assert.match(r as string, c.want);
    });

  it("a runtime Updraft runs is taken as it is; a web type has no handler; environment variables become env", () => {
    const r = fromServerlessYaml(
      inputs(
        "  name: web_demo\n  runtime: CustomRuntime\n  type: web\n  handler: ignored\n  environment:\n    variables:\n      STAGE: dev\n      PORT: 9000\n",
      ),
    );
    assert.ok(typeof r !== "string", String(r));
    assert.equal(r.fn.spec.runtime, "custom");
    assert.equal(r.fn.spec.type, "Web");
    assert.equal(r.fn.spec.handler, undefined);
    assert.deepEqual(r.fn.spec.env, [
      { name: "STAGE", value: "dev" },
      { name: "PORT", value: "9000" },
    ]);
    assert.deepEqual(r.notes, []);
  });
});

describe("updraftRuntime: SCF's runtime names Updraft runs", () => {
  const table: Array<[string, string | undefined, string]> = [
    ["CustomRuntime", "custom", "SCF's name for a bootstrap of one's own"],
    ["Go1", "go1", "the one Go runtime"],
    ["Python3.11", "python3.11", "a version Updraft has, in SCF's capitals"],
    ["Nodejs12.16", undefined, "a version Updraft does not have is not silently swapped"],
    ["Java8", undefined, "Java 8 is not Java 17"],
  ];
  for (const [scf, want, why] of table) it(`${scf}: ${why}`, () => assert.equal(updraftRuntime(scf), want));
});

describe("baseFunction reads serverless.yaml when there is no function.yaml", () => {
  it("a folder of SCF's, deployed with --runtime, says what it left out", () => {
    const dir = mkdtempSync(join(tmpdir(), "scf-folder-"));
    writeFileSync(join(dir, "serverless.yaml"), CUSTOM_HTML);
    const notes: string[] = [];
    const fn = baseFunction(dir, { runtime: "nodejs24" }, (l) => notes.push(l));
    assert.ok(typeof fn !== "string", String(fn));
    assert.equal(fn.kind, "Function");
    assert.equal(fn.metadata.name, "api-gw-html-demo");
    assert.equal(fn.spec.runtime, "nodejs24");
    assert.match(notes.join("\n"), /events/);
  });
});
