import assert from "node:assert/strict";
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, it } from "node:test";
import { tempDir } from "../../test/support/temp-dir.ts";
import { baseFunction } from "./deploy.ts";
import { fromScfTemplate, readScfTemplate } from "./scf-template.ts";

/** The template read, then the Function made from it: what deploy does with a config.json. */
function fromText(text: string, runtimeFlag?: string) {
  const template = readScfTemplate(text);
  return typeof template === "string" ? template : fromScfTemplate(template, runtimeFlag);
}

/** SCF's application template as its samples write it: JSON with // comments, a URL in a string. */
const template = (functions: string) => `{
  "serverless-cloud-function-application": {
    "application": {
      "English": { "name": "Timer demo", "description": "fires every 5 minutes" }, // shown in the console
      "download_address": "https://github.com/example/demo" // a URL: // inside a string is not a comment
    },
    "functions": {
${functions}
    }
  }
}
`;

const TIMER = template(`      "name": "Timer_Demo", // function name
      "handler": "index.main_handler",
      "memorySize": 128,
      "timeout": 3,
      "runtime": "Nodejs8.9",
      "Environment": { "region": "ap-guangzhou" },
      "Events": { "Type": "Timer", "Properties": { "CronExpression": "0 */5 * * * * *", "Enable": "FALSE" } },
      "VpcConfig": {},
      "codeObject": { "codeFile": ["index.js"], "CodeUri": ["https://github.com/example/demo"] }`);

describe("fromScfTemplate: a Function from SCF's config.json", () => {
  it("its function's name, handler, memory, time and variables; its timer a Trigger; --runtime for an old Node.js", () => {
    assert.match(
      String(fromText(TIMER)),
      /config\.json's runtime Nodejs8\.9 is not one Updraft runs.*--runtime nodejs24/,
    );
    const r = fromText(TIMER, "nodejs24");
    assert.ok(typeof r !== "string", String(r));
    assert.equal(r.fn.metadata.name, "timer-demo");
    assert.deepEqual(
      {
        runtime: r.fn.spec.runtime,
        handler: r.fn.spec.handler,
        memoryMB: r.fn.spec.memoryMB,
        timeoutSeconds: r.fn.spec.timeoutSeconds,
        env: r.fn.spec.env,
      },
      {
        runtime: "nodejs24",
        handler: "index.main_handler",
        memoryMB: 128,
        timeoutSeconds: 3,
        env: [{ name: "region", value: "ap-guangzhou" }],
      },
    );
    const triggers = r.triggersFor("timer-demo");
    assert.ok(Array.isArray(triggers), String(triggers));
    assert.deepEqual(
      triggers.map((t) => [t.metadata.name, t.spec]),
      [
        [
          "timer-demo-timer",
          {
            function: "timer-demo",
            type: "Timer",
            enabled: false,
            timer: { cronExpression: "0 */5 * * * * *" },
          },
        ],
      ],
    );
    assert.deepEqual(r.notes, [], "an empty VpcConfig and the template's codeObject are nothing to report");
  });

  it("an API gateway event is an Http Trigger with integrated response (a console-made trigger's); a COS event and a VPC are named as not applied", () => {
    const r = fromText(
      template(`      "name": "api", "handler": "index.main_handler", "runtime": "Python3.11",
      "Events": [
        { "Type": "TencentCloud::Serverless::Api", "Properties": { "Path": "/hello", "HttpMethod": "GET" } },
        { "Type": "COS", "Properties": { "Bucket": "b" } }
      ],
      "VpcConfig": { "VpcId": "vpc-1" }`),
    );
    assert.ok(typeof r !== "string", String(r));
    const triggers = r.triggersFor("api");
    assert.ok(Array.isArray(triggers), String(triggers));
    assert.deepEqual(
      triggers.map((t) => [t.metadata.name, t.spec.http]),
      [["api-api", { path: "/hello", methods: ["GET"], integratedResponse: true }]],
    );
    assert.match(r.notes.join("\n"), /config\.json's vpcConfig is not applied/);
    assert.match(r.notes.join("\n"), /config\.json's COS event is not applied/);
  });

  const refusals: Array<{ why: string; text: string; want: RegExp }> = [
    { why: "not JSON even with comments", text: "{ functions: ", want: /config\.json is not JSON/ },
    {
      why: "another tool's config.json is not taken for SCF's template",
      text: '{"compilerOptions": {}}',
      want: /not SCF's application template/,
    },
    {
      why: "a memory that is not a number is refused, not dropped",
      text: template('"runtime": "Go1", "memorySize": "big"'),
      want: /config\.json's memorySize must be a whole number/,
    },
    {
      why: "a timer without a schedule is refused",
      text: template('"runtime": "Go1", "Events": {"Type": "Timer", "Properties": {}}'),
      want: /config\.json's timer timer has no cronExpression/,
    },
  ];
  for (const c of refusals) it(c.why, () => assert.match(String(fromText(c.text)), c.want));

  it("readScfTemplate reads only SCF's template, and its handler", () => {
    const read = readScfTemplate(TIMER);
    assert.equal(typeof read !== "string", true);
    assert.equal(typeof readScfTemplate('{"name": "a package.json-like file"}') !== "string", false);
    assert.equal(typeof read !== "string" ? read.handler : undefined, "index.main_handler");
    assert.equal(typeof readScfTemplate("not json") === "string", true);
  });
});

describe("baseFunction: the handler's file is looked for before anything is applied", () => {
  const folder = (files: Record<string, string>) => {
    const dir = tempDir("scf-folder");
    for (const [name, text] of Object.entries(files)) writeFileSync(join(dir, name), text);
    return dir;
  };
  const serverlessYaml = (handler: string, runtime = "Php7") =>
    `component: scf\ninputs:\n  name: api_demo\n  src: ./\n  handler: ${handler}\n  runtime: ${runtime}\n`;

  it("serverless.yaml's handler naming a file the folder lacks gives way to the template's, whose file is there, saying so", () => {
    const dir = folder({
      "serverless.yaml": serverlessYaml("apigw.main_handler"),
      "config.json": template('"name": "api_demo", "handler": "index.main_handler", "runtime": "Php7"'),
      "index.php": "<?php function main_handler($e, $c) { return 'ok'; }\n",
    });
    const notes: string[] = [];
    const base = baseFunction(dir, { runtime: "php8.2" }, (l) => notes.push(l));
    assert.ok(typeof base !== "string", String(base));
    assert.equal(base.fn.spec.handler, "index.main_handler");
    assert.match(
      notes.join("\n"),
      /handler apigw\.main_handler needs apigw\.php.*config\.json \(SCF's template\) names index\.main_handler, in index\.php/,
    );
  });

  it("a handler whose file is missing, with no template to fall back on, is refused with the files that are there", () => {
    const dir = folder({ "serverless.yaml": serverlessYaml("apigw.main_handler"), "index.php": "<?php\n" });
    assert.match(
      String(baseFunction(dir, { runtime: "php8.2" }, () => undefined)),
      /the handler apigw\.main_handler \(from serverless\.yaml\) needs apigw\.php, which is not in .*: every call would be 437 HandlerNotFound\. Give --handler <file>\.<function> \(.* has index\.php: e\.g\. --handler index\.main_handler\)/,
    );
  });

  it("an explicit --handler is not second-guessed by the template: refused when its file is missing", () => {
    const dir = folder({
      "config.json": template('"name": "f", "handler": "index.main_handler", "runtime": "Python3.11"'),
      "index.py": "def main_handler(e, c): return 1\n",
    });
    assert.match(
      String(baseFunction(dir, { handler: "app.main_handler" }, () => undefined)),
      /the handler app\.main_handler \(from --handler\) needs app\.py/,
    );
    const ok = baseFunction(dir, {}, () => undefined);
    assert.ok(typeof ok !== "string", String(ok));
    assert.equal(ok.fn.spec.runtime, "python3.11", "a folder with only the template deploys from it");
  });

  it("a folder with no file saying what it is, deployed with --runtime alone, needs SCF's default handler's file", () => {
    const dir = folder({ "app.py": "def main_handler(e, c): return 1\n" });
    assert.match(
      String(baseFunction(dir, { runtime: "python3.11", name: "f" }, () => undefined)),
      /the handler index\.main_handler \(SCF's default\) needs index\.py, .*e\.g\. --handler app\.main_handler/,
    );
  });

  it("a Node.js handler in a folder's index.js, and runtimes that load no file by name, pass", () => {
    const dir = folder({ "serverless.yaml": serverlessYaml("lib.main_handler", "Nodejs12.16") });
    mkdirSync(join(dir, "lib"));
    writeFileSync(join(dir, "lib/index.js"), "exports.main_handler = async () => 1;\n");
    assert.ok(typeof baseFunction(dir, { runtime: "nodejs24" }, () => undefined) !== "string");
    const go = folder({ "serverless.yaml": serverlessYaml("main", "Go1") });
    assert.ok(
      typeof baseFunction(go, {}, () => undefined) !== "string",
      "Go's binary is built or packaged later",
    );
  });
});
