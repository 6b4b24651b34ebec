import assert from "node:assert/strict";
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, it } from "node:test";
import { tempDir } from "../../test/support/temp-dir.ts";
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

// As SCF's samples write them (Python3.6-Play_Check_By_Timer, Nodejs10.15-CustomHtml,
// Nodejs10.15-Transcode), in one file.
const EVENTS = inputs(`  name: demo
  runtime: Python3.11
  handler: index.main_handler
  events:
    - timer:
        name: timer
        parameters:
          cronExpression: '0 */5 * * * * *'
          enable: true
          argument: argument
    - apigw:
        name: serverless
        serviceId:
        parameters:
          protocols:
            - http
          environment: release
          endpoints:
            - path: /
              method: GET
              function:
                isIntegratedResponse: TRUE
    - apigw:
        name: serverless_days_workshop_transcode
        parameters:
          endpoints:
            - path: /transcode
              method: ANY
              enableCORS: TRUE
              serviceTimeout: 300
            - path: /transcode/{job}
              method: post
    - cos:
        name: serverless-demo-1256608914.cos.ap-shanghai.myqcloud.com
        parameters:
          bucket: serverless-demo-1256608914.cos.ap-shanghai.myqcloud.com
          events: cos:ObjectCreated:*
`);

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
    assert.match(r.notes[0]!, /namespace is not applied/);
    // The function reads its region as on SCF (TENCENTCLOUD_REGION, context.tencentcloud_region).
    assert.deepEqual(r.fn.spec.tencentCloud, { region: "ap-guangzhou" });
    assert.match(r.notes[1]!, /apigw serverless \(no endpoints: no path to serve\) is not applied/);
    assert.deepEqual(r.triggersFor("api-gw-html-demo"), []);
  });

  it("timer and API gateway events become Triggers of the Function as it is finally named; others are named as not applied", () => {
    const r = fromServerlessYaml(EVENTS);
    assert.ok(typeof r !== "string", String(r));
    const triggers = r.triggersFor("renamed");
    assert.ok(Array.isArray(triggers), String(triggers));
    assert.deepEqual(
      triggers.map((t) => [t.metadata.name, t.spec]),
      [
        [
          "renamed-timer",
          {
            function: "renamed",
            type: "Timer",
            timer: { cronExpression: "0 */5 * * * * *", message: "argument" },
          },
        ],
        [
          "renamed-serverless",
          {
            function: "renamed",
            type: "Http",
            http: { path: "/", methods: ["GET"], integratedResponse: true },
          },
        ],
        [
          "renamed-serverless-days-workshop-transcode-1",
          { function: "renamed", type: "Http", http: { path: "/transcode", methods: ["ANY"] } },
        ],
        [
          "renamed-serverless-days-workshop-transcode-2",
          { function: "renamed", type: "Http", http: { path: "/transcode/{job}", methods: ["POST"] } },
        ],
      ],
    );
    assert.match(r.notes.join("\n"), /apigw's enableCORS, apigw's serviceTimeout, cos event are not applied/);
  });

  it("a role is said not applied, with where its keys go instead; a region left empty or commented out sets nothing", () => {
    const r = fromServerlessYaml(inputs("  runtime: Go1\n  role: SCF_QcsRole\n  region: #ap-shanghai\n"));
    assert.ok(typeof r !== "string", String(r));
    assert.equal(r.fn.spec.tencentCloud, undefined);
    assert.match(
      r.notes[0]!,
      /^serverless\.yaml's role SCF_QcsRole is not applied: .*--credentials-secret .*spec\.tencentCloud\.credentialsSecret/,
    );
    assert.ok(!r.notes.some((n) => /region/.test(n)), r.notes.join("\n"));
  });

  it("events of a kind Updraft does not make are counted in one note, in the right number", () => {
    const r = fromServerlessYaml(
      inputs("  runtime: Go1\n  events:\n    - ckafka: {name: a}\n    - ckafka: {name: b}\n"),
    );
    assert.ok(typeof r !== "string", String(r));
    assert.equal(r.notes[0], "serverless.yaml's 2 ckafka events are not applied");
    const one = fromServerlessYaml(inputs("  runtime: Go1\n  events:\n    - cmq: {name: a}\n"));
    assert.ok(typeof one !== "string", String(one));
    assert.equal(one.notes[0], "serverless.yaml's cmq event is not applied");
  });

  it("a timer with enable: false is a disabled Trigger, not a dropped one", () => {
    const r = fromServerlessYaml(
      inputs(
        "  runtime: Go1\n  events:\n    - timer:\n        name: t\n        parameters: {cronExpression: '*/5 * * * *', enable: FALSE}\n",
      ),
    );
    assert.ok(typeof r !== "string", String(r));
    const triggers = r.triggersFor("f");
    assert.ok(Array.isArray(triggers), String(triggers));
    assert.equal(triggers[0]?.spec.enabled, false);
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
      why: "code outside the folder being deployed (src: ../code) is refused: it is not part of what was given",
      text: inputs("  runtime: Go1\n  src: ../code\n"),
      want: /src is \.\.\/code, outside the folder/,
    },
    {
      why: "a Serverless Framework variable is refused, not taken as a literal value",
      text: inputs(`  runtime: Go1\n  environment:\n    variables:\n      KEY: $\{env:KEY}\n`),
      want: /variable \$\{env:KEY\}/,
    },
    {
      why: "a timer without a schedule is refused, not dropped",
      text: inputs("  runtime: Go1\n  events:\n    - timer:\n        name: t\n"),
      want: /timer t has no cronExpression/,
    },
    {
      why: "an API gateway path Updraft cannot serve is refused, naming it",
      text: inputs(
        "  runtime: Go1\n  events:\n    - apigw:\n        parameters:\n          endpoints: [{path: 'a b'}]\n",
      ),
      want: /path "a b"/,
    },
    {
      why: "two events that would make Triggers of one name are refused",
      text: inputs(
        "  runtime: Go1\n  events:\n    - timer: {name: t, parameters: {cronExpression: '* * * * *'}}\n    - timer: {name: t, parameters: {cronExpression: '*/2 * * * *'}}\n",
      ),
      want: /two Triggers named f-t/,
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
    const dir = tempDir("scf-folder");
    writeFileSync(join(dir, "serverless.yaml"), CUSTOM_HTML);
    writeFileSync(join(dir, "index.js"), "exports.main_handler = async () => 1;\n");
    const notes: string[] = [];
    const base = baseFunction(dir, { runtime: "nodejs24" }, (l) => notes.push(l));
    assert.ok(typeof base !== "string", String(base));
    assert.equal(base.fn.kind, "Function");
    assert.equal(base.fn.metadata.name, "api-gw-html-demo");
    assert.equal(base.fn.spec.runtime, "nodejs24");
    assert.match(notes.join("\n"), /apigw serverless/);
  });
  it("--name renames the Function and its Triggers follow", () => {
    const dir = tempDir("scf-folder");
    writeFileSync(join(dir, "serverless.yaml"), EVENTS);
    writeFileSync(join(dir, "index.py"), "def main_handler(event, context): return 1\n");
    const base = baseFunction(dir, { name: "mine" }, () => undefined);
    assert.ok(typeof base !== "string", String(base));
    assert.deepEqual(
      base.triggers.map((t) => [t.metadata.name, t.spec.function]),
      [
        ["mine-timer", "mine"],
        ["mine-serverless", "mine"],
        ["mine-serverless-days-workshop-transcode-1", "mine"],
        ["mine-serverless-days-workshop-transcode-2", "mine"],
      ],
    );
  });
  it("a --name long enough that the events' Trigger names, cut to 63 characters, come out alike is refused, not applied as one", () => {
    const dir = tempDir("scf-folder");
    // Under the file's own name (f) the names differ: f-…-a and f-…-b.
    const long = "e".repeat(58);
    writeFileSync(
      join(dir, "serverless.yaml"),
      inputs(
        `  name: f\n  runtime: Go1\n  events:\n    - timer: {name: ${long}a, parameters: {cronExpression: '* * * * *'}}\n    - timer: {name: ${long}b, parameters: {cronExpression: '*/2 * * * *'}}\n`,
      ),
    );
    assert.ok(typeof baseFunction(dir, {}, () => undefined) !== "string");
    assert.match(
      String(baseFunction(dir, { name: "a-longer-name" }, () => undefined)),
      /two Triggers named a-longer-name-e+: give the events different names/,
    );
  });
  it("src names the code's folder: taken when it is there; when it is not (some of SCF's samples), the folder itself, saying so", () => {
    const dir = tempDir("scf-folder");
    writeFileSync(
      join(dir, "serverless.yaml"),
      inputs("  name: f\n  runtime: Python3.11\n  handler: index.main_handler\n  src: ./src\n"),
    );
    writeFileSync(join(dir, "index.py"), "def main_handler(e, c): return 'top'\n");
    const notes: string[] = [];
    const beside = baseFunction(dir, {}, (l) => notes.push(l));
    assert.ok(typeof beside !== "string", String(beside));
    assert.equal(beside.codeDir, dir);
    assert.match(notes.join("\n"), /src \.\/src is not in .*: the code is the folder itself/);
    mkdirSync(join(dir, "src"));
    assert.match(
      String(baseFunction(dir, {}, () => undefined)),
      /the handler index\.main_handler \(from serverless\.yaml\) needs index\.py, which is not in .*\/src/,
      "once ./src is there, the handler is looked for in it",
    );
    writeFileSync(join(dir, "src/index.py"), "def main_handler(e, c): return 'src'\n");
    const inSrc = baseFunction(dir, {}, () => undefined);
    assert.ok(typeof inSrc !== "string", String(inSrc));
    assert.equal(inSrc.codeDir, join(dir, "src"));
  });
  it("function.yaml's Trigger documents come with its Function; another kind is refused, not passed over", () => {
    const dir = tempDir("fn-folder");
    const fn =
      "apiVersion: updraft.dev/v1alpha1\nkind: Function\nmetadata: {name: f}\nspec: {runtime: go1, handler: main, code: {inline: {}}}\n";
    const trig =
      "apiVersion: updraft.dev/v1alpha1\nkind: Trigger\nmetadata: {name: t}\nspec: {function: f, type: Timer, timer: {cronExpression: '* * * * *'}}\n";
    writeFileSync(join(dir, "function.yaml"), `${fn}---\n${trig}`);
    const base = baseFunction(dir, {});
    assert.ok(typeof base !== "string", String(base));
    assert.deepEqual(
      base.triggers.map((t) => t.metadata.name),
      ["t"],
    );
    writeFileSync(join(dir, "function.yaml"), `${fn}---\nkind: ConfigMap\nmetadata: {name: c}\n`);
    assert.match(String(baseFunction(dir, {})), /holds a ConfigMap/);
  });
});
