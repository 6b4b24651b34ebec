/**
 * The CLI as users get it: packed as npm package of compiled JavaScript, installed with
 * `npm install -g`, run on the oldest Node.js it supports (22), against the local cluster
 * through the kubeconfig only (no UPDRAFT_URL: the invoke API through the API server). Every
 * runtime's `updraft init` scaffold is built and packaged as its README says, applied as it
 * is, and answers.
 */
import assert from "node:assert/strict";
import { execFile, execFileSync, spawn, spawnSync } from "node:child_process";
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import type { Server } from "node:http";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { servePackages, sha256 } from "../conformance/packages.ts";
import { tempDir } from "../support/temp-dir.ts";
import {
  deleteNamespace,
  installFullUpdraft,
  instanceKeyOf,
  invokeAuth,
  kubectl,
  kubectlOk,
  newNamespace,
  ROOT,
  waitFor,
} from "./harness.ts";

const OLDEST_NODE = "22.23.5";

let ns = "";
let base = "";
let prefix = "";
let nodeDir = "";
let work = "";
let packages: Server | undefined;
/** The SHA-256 of the Go function's package, which deploy kept in the code store. */
let goPackage = "";

function env(key: string): string {
  const v = process.env[key];
  if (!v) throw new Error(`${key} is not set: run under \`make test\` (cluster.sh env)`);
  return v;
}

/**
 * The installed `updraft`, on Node.js 22, with the kubeconfig and nothing else to find Updraft
 * by. Never spawnSync: the Go package is served by this process, and a blocked event loop
 * would hold its download — and the cold start — until the call timed out.
 */
function updraft(
  args: string[],
  extraEnv: Record<string, string> = {},
): Promise<{ status: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(
      join(prefix, "bin/updraft"),
      args,
      { encoding: "utf8", env: cliEnv(extraEnv), cwd: work },
      (err, stdout, stderr) =>
        resolve({ status: err ? ((err as { code?: number }).code ?? 1) : 0, stdout, stderr }),
    );
  });
}

/** The environment the installed CLI runs in: Node.js 22 first on PATH, no activator URL or token. */
function cliEnv(extra: Record<string, string> = {}): Record<string, string> {
  const env: Record<string, string> = { ...(process.env as Record<string, string>), ...extra };
  delete env.UPDRAFT_URL;
  delete env.UPDRAFT_TOKEN;
  env.PATH = `${nodeDir}:${env.PATH}`;
  return env;
}

/** `updraft invoke fn -n ns --data event`: its exit status, its result, and the request id it printed. */
async function invokeWithCli(fn: string, event: unknown) {
  const r = await updraft(["invoke", fn, "-n", ns, "--data", JSON.stringify(event)]);
  return { ...r, result: r.stdout.trim(), requestId: /request id ([0-9a-f-]{36})/.exec(r.stderr)?.[1] };
}

/** A function's answer through the CLI, which must succeed. */
async function answerOf(fn: string, event: unknown = {}): Promise<string> {
  const r = await invokeWithCli(fn, event);
  // The answer's body is on stdout: a refusal's code and message say who refused.
  assert.equal(r.status, 0, `${r.stderr}\n${r.stdout}`);
  return r.result;
}

/** All files under dir, relative. */
const filesUnder = (dir: string) =>
  readdirSync(dir, { recursive: true, withFileTypes: true })
    .filter((e) => e.isFile())
    .map((e) => join(e.parentPath, e.name).slice(dir.length + 1));

describe("the CLI, installed from its npm package", () => {
  before(async () => {
    // With the code store (packages over a ConfigMap's size) on the local object store.
    base = await installFullUpdraft({
      "codeStore.enabled": true,
      "objectStorage.endpoint": env("UPDRAFT_S3_ENDPOINT"),
      "objectStorage.accessKey": env("UPDRAFT_S3_ACCESS_KEY"),
      "objectStorage.secretKey": env("UPDRAFT_S3_SECRET_KEY"),
    });
    ns = await newNamespace("cli");
    work = tempDir("updraft-cli");
    const tarball = execFileSync(process.execPath, [join(ROOT, "hack/cli-package.ts")], { encoding: "utf8" })
      .trim()
      .split("\n")
      .pop() as string;
    prefix = join(work, "global");
    execFileSync(
      "npm",
      ["install", "-g", "--prefix", prefix, tarball, "--prefer-offline", "--no-audit", "--no-fund"],
      { stdio: "inherit" },
    );
    nodeDir = execFileSync(join(ROOT, "hack/ensure-node.sh"), [OLDEST_NODE], { encoding: "utf8" }).trim();
  });
  after(async () => {
    packages?.close();
    await deleteNamespace(ns);
  });

  it("ships compiled JavaScript only, and runs on Node.js 22", async () => {
    const installed = join(prefix, "lib/node_modules/updraft-cli");
    const own = filesUnder(installed).filter((f) => !f.startsWith("node_modules/"));
    assert.ok(own.includes("dist/cmd/updraft/main.js"), own.join(" "));
    assert.deepEqual(
      own.filter((f) => f.endsWith(".ts")),
      [],
      "no TypeScript: Node.js does not strip types under node_modules",
    );
    const help = await updraft(["help"]);
    assert.equal(help.status, 0, help.stderr);
    assert.match(help.stdout, /^ {2}init <runtime> <name>/m);
    const version = spawnSync(join(nodeDir, "node"), ["--version"], { encoding: "utf8" }).stdout.trim();
    assert.equal(version, `v${OLDEST_NODE}`);
  });

  it("init refuses an unknown runtime, a bad name and an existing file, writing nothing", async () => {
    const unknown = await updraft(["init", "ruby3", "x"]);
    assert.equal(unknown.status, 2);
    assert.match(unknown.stderr, /unknown runtime "ruby3"; one of nodejs24/);
    const badName = await updraft(["init", "nodejs24", "Hello_World"]);
    assert.equal(badName.status, 2);
    assert.match(badName.stderr, /not a Function name/);
    assert.equal(existsSync(join(work, "Hello_World")), false);
    assert.equal((await updraft(["init", "nodejs24", "twice"])).status, 0);
    writeFileSync(join(work, "twice/index.js"), "// mine\n");
    const again = await updraft(["init", "nodejs24", "twice"]);
    assert.equal(again.status, 1);
    assert.match(again.stderr, /already there; nothing written/);
    assert.equal(readFileSync(join(work, "twice/index.js"), "utf8"), "// mine\n");
  });

  it("logs: an instance's lines, one invocation's by its request id, and -f as they come", async () => {
    kubectlOk(
      ["-n", ns, "apply", "-f", "-"],
      `apiVersion: updraft.dev/v1alpha1
kind: Function
metadata: {name: talker}
spec:
  runtime: nodejs24
  handler: index.main_handler
  concurrency: {perInstance: 4}
  code:
    inline:
      index.js: |
        exports.main_handler = async (event) => {
          console.log("said " + event.word);
          await new Promise((r) => setTimeout(r, 200));
          console.log("done " + event.word);
          return event.word;
        };
`,
    );
    const say = async (word: string) => {
      const r = await invokeWithCli("talker", { word });
      assert.equal(r.status, 0, r.stderr);
      return r.requestId as string;
    };
    // Two at once on one instance (perInstance 4): their lines interleave in its log.
    const [first, second] = await waitFor("talker answers", async () => {
      const ids = await Promise.all([say("alpha"), say("beta")]);
      return ids.every(Boolean) ? ids : undefined;
    });
    const one = await updraft(["logs", "talker", "-n", ns, "--request-id", first as string]);
    assert.equal(one.status, 0, one.stderr);
    const lines = one.stdout
      .trim()
      .split("\n")
      .map((l) => l.replace(/^\[\S+\] /, ""));
    assert.ok(lines.includes(`START RequestId:${first}`), one.stdout);
    assert.ok(lines.includes(`RequestId:${first} said alpha`), one.stdout);
    assert.ok(lines.includes(`RequestId:${first} done alpha`), one.stdout);
    assert.ok(
      lines.some((l) => l.startsWith(`Report RequestId:${first} Duration:`)),
      one.stdout,
    );
    assert.ok(!one.stdout.includes("beta") && !one.stdout.includes(second as string), one.stdout);
    const all = await updraft(["logs", "talker", "-n", ns]);
    assert.match(all.stdout, new RegExp(`RequestId:${second} said beta`));

    // -f: a line printed after it started reaches it.
    const follower = spawn(join(prefix, "bin/updraft"), ["logs", "talker", "-n", ns, "-f", "--tail", "0"], {
      env: cliEnv(),
    });
    let followed = "";
    follower.stdout.on("data", (b: Buffer) => {
      followed += b.toString();
    });
    try {
      await waitFor(
        "the followed log shows a later invocation",
        async () => {
          await say("gamma");
          return followed.includes("said gamma");
        },
        60_000,
        1000,
      );
    } finally {
      follower.kill();
    }
    const missing = await updraft(["logs", "nobody", "-n", ns]);
    assert.equal(missing.status, 1);
    assert.match(missing.stderr, /function .*\/nobody not found/);
  });

  it("kept logs: after its instances stop, logs and describe read what the activators kept", async () => {
    kubectlOk(
      ["-n", ns, "apply", "-f", "-"],
      `apiVersion: updraft.dev/v1alpha1
kind: Function
metadata: {name: brief}
spec:
  runtime: python3.11
  handler: index.main_handler
  scaling: {scaleToZeroAfterSeconds: 2}
  code:
    inline:
      index.py: |
        def main_handler(event, context):
            print("kept line", event.get("n"))
            if event.get("fail"):
                raise ValueError("asked to fail")
            return event.get("n")
`,
    );
    const call = async (event: object) => (await invokeWithCli("brief", event)).requestId as string;
    const ok = await waitFor("brief answers", () => call({ n: 1 }), 120_000, 1000);
    const failed = await call({ n: 2, fail: true });
    assert.ok(failed);
    await waitFor(
      "brief back at zero, its pods gone",
      async () =>
        kubectlOk(["-n", ns, "get", "pods", "-l", "updraft.dev/function=brief", "-o", "name"]).trim() === "",
      120_000,
      1000,
    );
    const one = await updraft(["logs", "brief", "-n", ns, "--request-id", ok]);
    assert.equal(one.status, 0, one.stderr);
    assert.match(one.stderr, /no running instance: the kept logs/);
    assert.match(one.stdout, new RegExp(`^START RequestId:${ok}$`, "m"));
    assert.match(one.stdout, new RegExp(`^RequestId:${ok} kept line 1$`, "m"));
    assert.doesNotMatch(one.stdout, /kept line 2/);
    const all = await updraft(["logs", "brief", "-n", ns]);
    assert.match(all.stdout, new RegExp(`^RequestId:${failed} kept line 2$`, "m"));
    assert.match(all.stdout, new RegExp(`^ERROR RequestId:${failed} Result:asked to fail`, "m"));
    const described = await updraft(["describe", "brief", "-n", ns]);
    assert.equal(described.status, 0, described.stderr);
    const recent = described.stdout.slice(described.stdout.indexOf("Recent invocations:"));
    assert.match(recent, new RegExp(`${failed} +FunctionError \\(430\\)`));
    assert.match(recent, new RegExp(`${ok} +Succeeded +[0-9.]+ ms +yes`), "the first call was a cold start");
    assert.ok(recent.indexOf(failed) < recent.indexOf(ok), "newest first");
    // Events on the Function: the autoscaler's decisions and the activator's cold start.
    const events = kubectlOk([
      "-n",
      ns,
      "get",
      "events",
      "--field-selector",
      "involvedObject.kind=Function,involvedObject.name=brief",
      "-o",
      "jsonpath={range .items[*]}{.reason} {.message}{'\\n'}{end}",
    ]);
    assert.match(events, /^ScaleFromZero 0 → 1 instances: /m);
    assert.match(events, /^ScaleToZero 1 → 0 instances: /m);
    assert.match(
      events,
      new RegExp(
        `^ColdStart request ${ok} waited for a new instance: \\d+ ms \\(PullCode \\d+ ms, InitRuntime \\d+ ms, InitFunction \\d+ ms\\)$`,
        "m",
      ),
    );
  });

  it("deploy: a folder made for SCF (its serverless.yaml) deploys as it is — its timer and apigw events become Triggers, a runtime Updraft does not run needs --runtime, what is not applied is named, a handler file it lacks gives way to SCF's template's, a custom bootstrap gets _HANDLER, an async handler that takes a callback answers", async () => {
    // A custom runtime as SCF's samples write one: bootstrap sources the file $_HANDLER names.
    const shell = join(work, "scf-shell");
    mkdirSync(shell, { recursive: true });
    writeFileSync(
      join(shell, "serverless.yaml"),
      [
        "component: scf",
        "name: ap-guangzhou_default_shell",
        "inputs:",
        "  name: SCF_Shell",
        "  src: ./",
        "  handler: index.main_handler",
        "  runtime: CustomRuntime",
        "  region: ap-guangzhou",
        "  role: SCF_QcsRole",
        "  memorySize: 64",
        "  timeout: 3",
        "  events:",
        "    - timer:",
        "        name: every_minute",
        "        parameters: {cronExpression: '0 */1 * * * * *', enable: false, argument: tick}",
        "    - apigw:",
        "        name: serverless",
        "        parameters:",
        "          endpoints:",
        "            - path: /scf-shell",
        "              method: POST",
        "              enableCORS: TRUE",
        "",
      ].join("\n"),
    );
    writeFileSync(
      join(shell, "bootstrap"),
      [
        "#!/bin/bash",
        "set -euo pipefail",
        'source ./"$(echo "$_HANDLER" | cut -d. -f1).sh"',
        'api="http://$SCF_RUNTIME_API:$SCF_RUNTIME_API_PORT/runtime"',
        'curl -s -X POST "$api/init/ready" -d " " >/dev/null',
        "while true; do",
        '  event=$(curl -s "$api/invocation/next")',
        '  curl -s -X POST "$api/invocation/response" -d "$($(echo "$_HANDLER" | cut -d. -f2) "$event")" >/dev/null',
        "done",
        "",
      ].join("\n"),
      { mode: 0o755 },
    );
    writeFileSync(
      join(shell, "index.sh"),
      'main_handler () {\n  echo "{\\"shell\\":true,\\"bytes\\":$(printf %s "$1" | wc -c),\\"region\\":\\"$TENCENTCLOUD_REGION\\"}"\n}\n',
    );
    const custom = await updraft(["deploy", shell, "-n", ns]);
    assert.equal(custom.status, 0, custom.stderr);
    // Its region is the function's, read as on SCF; its role's keys would come from a Secret.
    assert.doesNotMatch(custom.stderr, /region.* not applied/);
    assert.match(custom.stderr, /serverless\.yaml's role SCF_QcsRole is not applied: .*--credentials-secret/);
    assert.match(custom.stderr, /serverless\.yaml's apigw's enableCORS is not applied/);
    assert.equal(
      kubectlOk(["-n", ns, "get", "function", "scf-shell", "-o", "jsonpath={.spec.memoryMB}"]),
      "64",
    );
    assert.deepEqual(JSON.parse(await answerOf("scf-shell", { a: 1 })), {
      shell: true,
      bytes: 7,
      region: "ap-guangzhou",
    });
    // Its events are its Triggers: the timer as written (disabled), the API gateway's path served.
    assert.match(
      custom.stderr,
      /applied trigger .*\/scf-shell-every-minute \(Timer 0 \*\/1 \* \* \* \* \*\)/,
    );
    assert.equal(
      kubectlOk([
        "-n",
        ns,
        "get",
        "trigger",
        "scf-shell-every-minute",
        "-o",
        "jsonpath={.spec.enabled} {.spec.timer.message}",
      ]),
      "false tick",
    );
    const viaGateway = await waitFor(
      "the apigw event's path served",
      async () => {
        const r = await fetch(`${base}/http/${ns}/scf-shell`, { method: "POST", body: "x" });
        const text = await r.text();
        return r.status === 200 ? text : undefined;
      },
      60_000,
    );
    assert.equal((JSON.parse(viaGateway) as { shell?: boolean }).shell, true, viaGateway);
    // deploy waited for them too, and said where the Http one is served.
    assert.match(custom.stdout, /trigger .*\/scf-shell-every-minute is disabled \(spec\.enabled: false\)/);
    assert.match(
      custom.stdout,
      new RegExp(`trigger .*/scf-shell-serverless is Ready: \\S+/http/${ns}/scf-shell\\n`),
    );

    // The timer taken out of serverless.yaml: deployed again, its Trigger goes; the apigw's
    // stays, and a Trigger made by hand for the same Function is not deploy's to remove.
    kubectlOk(
      ["-n", ns, "apply", "-f", "-"],
      `apiVersion: updraft.dev/v1alpha1
kind: Trigger
metadata: {name: scf-shell-by-hand}
spec:
  function: scf-shell
  type: Timer
  enabled: false
  timer: {cronExpression: "0 0 * * * * *"}
`,
    );
    const yamlPath = join(shell, "serverless.yaml");
    const withoutTimer = readFileSync(yamlPath, "utf8").replace(/ {4}- timer:\n.*\n.*\n/, "");
    assert.doesNotMatch(withoutTimer, /timer/);
    writeFileSync(yamlPath, withoutTimer);
    const again = await updraft(["deploy", shell, "-n", ns]);
    assert.equal(again.status, 0, again.stderr);
    assert.match(again.stderr, /removed trigger .*\/scf-shell-every-minute \(deployed with scf-shell before/);
    assert.doesNotMatch(again.stderr, /removed trigger .*scf-shell-(serverless|by-hand)/);
    assert.match(kubectl(["-n", ns, "get", "trigger", "scf-shell-every-minute"]).stderr, /NotFound/);
    assert.equal(
      kubectlOk(["-n", ns, "get", "trigger", "-o", "name"])
        .split("\n")
        .filter((l) => l.includes("scf-shell"))
        .sort()
        .join(" "),
      "trigger.updraft.dev/scf-shell-by-hand trigger.updraft.dev/scf-shell-serverless",
    );

    // A Trigger its controller refuses (a path naming {id} twice) fails the deploy, saying why.
    writeFileSync(yamlPath, withoutTimer.replace("path: /scf-shell", "path: /scf-shell/{id}/{id}"));
    const faulty = await updraft(["deploy", shell, "-n", ns]);
    assert.equal(faulty.status, 1, faulty.stderr);
    assert.match(faulty.stderr, /trigger .*\/scf-shell-serverless is not Ready: PathParameterRepeated: /);

    // Node.js of a version Updraft does not run: refused without --runtime, saying which.
    // Its serverless.yaml names a handler file the folder lacks, as a third of SCF's samples
    // do; SCF's template beside it (config.json, JSON with comments) names the right one.
    const node = join(work, "scf-node");
    mkdirSync(node, { recursive: true });
    writeFileSync(
      join(node, "serverless.yaml"),
      "component: scf\ninputs:\n  name: scf_node\n  handler: node_demo.main_handler\n  runtime: Nodejs12.16\n",
    );
    writeFileSync(
      join(node, "config.json"),
      '{\n  "serverless-cloud-function-application": {\n    "functions": {\n      "name": "scf_node", // the function\n      "handler": "index.main_handler",\n      "runtime": "Nodejs12.16"\n    }\n  }\n}\n',
    );
    writeFileSync(
      join(node, "index.js"),
      'exports.main_handler = async (event, context, callback) => ({ statusCode: 200, body: "hi " + event.who });\n',
    );
    const refused = await updraft(["deploy", node, "-n", ns]);
    assert.equal(refused.status, 2, refused.stderr);
    assert.match(refused.stderr, /Nodejs12\.16 is not one Updraft runs.*--runtime nodejs24/);
    const deployed = await updraft(["deploy", node, "-n", ns, "--runtime", "nodejs24"]);
    assert.equal(deployed.status, 0, deployed.stderr);
    assert.match(
      deployed.stderr,
      /handler node_demo\.main_handler needs node_demo\.js, .*config\.json \(SCF's template\) names index\.main_handler, in index\.js: deploying with that/,
    );
    assert.deepEqual(JSON.parse(await answerOf("scf-node", { who: "scf" })), {
      statusCode: 200,
      body: "hi scf",
    });
  });

  it("deploy: a directory becomes a Function — inline when it fits, else a package in a ConfigMap it owns — waited for until Ready; a new package rolls it", async () => {
    const mapsOf = (fn: string) =>
      kubectlOk(["-n", ns, "get", "configmap", "-l", `updraft.dev/package-of=${fn}`, "-o", "name"]).trim();

    // Inline: init's Python function, changed, deployed from its directory.
    assert.equal((await updraft(["init", "python3.11", "dep-inline"])).status, 0);
    writeFileSync(
      join(work, "dep-inline/index.py"),
      'def main_handler(event, context):\n    return "inline v1"\n',
    );
    const inline = await updraft(["deploy", "dep-inline", "-n", ns]);
    assert.equal(inline.status, 0, inline.stderr);
    assert.match(inline.stderr, /code inline/);
    assert.match(inline.stdout, /is Ready/);
    assert.equal(await answerOf("dep-inline"), '"inline v1"');

    // A subdirectory: a tar.gz in a ConfigMap named by its hash, owned by the Function.
    const dir = join(work, "dep-pkg");
    mkdirSync(join(dir, "lib"), { recursive: true });
    writeFileSync(join(dir, "lib/greet.js"), 'exports.greet = () => "package v1";\n');
    writeFileSync(
      join(dir, "index.js"),
      'const { greet } = require("./lib/greet.js");\nexports.main_handler = async () => greet();\n',
    );
    const pkg = await updraft(["deploy", dir, "-n", ns, "--runtime", "nodejs24"]);
    assert.equal(pkg.status, 0, pkg.stderr);
    assert.match(pkg.stderr, /lib\/greet\.js is not a plain file name/);
    assert.match(pkg.stderr, /code ConfigMap dep-pkg-code-[0-9a-f]{10}/);
    assert.equal(await answerOf("dep-pkg"), '"package v1"');
    const first = mapsOf("dep-pkg");
    const owners = kubectlOk(["-n", ns, "get", first, "-o", "jsonpath={.metadata.ownerReferences[0].kind}"]);
    assert.equal(owners, "Function");
    // A new package: a new ConfigMap, the instances rolled to it, the old one gone.
    writeFileSync(join(dir, "lib/greet.js"), 'exports.greet = () => "package v2";\n');
    const again = await updraft(["deploy", dir, "-n", ns, "--runtime", "nodejs24"]);
    assert.equal(again.status, 0, again.stderr);
    await waitFor(
      "the new package answers",
      async () => (await answerOf("dep-pkg")) === '"package v2"',
      120_000,
      1000,
    );
    const second = mapsOf("dep-pkg");
    assert.notEqual(second, first);
    assert.equal(second.split("\n").length, 1, `one package left: ${second}`);

    // Java: built with Maven, its jar the package.
    assert.equal((await updraft(["init", "java17", "dep-java"])).status, 0);
    const java = await updraft(["deploy", "dep-java", "-n", ns]);
    assert.equal(java.status, 0, java.stderr);
    assert.match(java.stderr, /code ConfigMap dep-java-code-/);
    assert.match(await answerOf("dep-java"), /"message":"Hello, world!"/);

    // Go: built (over 2 MB packed) — more than a ConfigMap holds: uploaded to the code store.
    assert.equal((await updraft(["init", "go1", "dep-go"])).status, 0);
    writeFileSync(
      join(work, "dep-go/go.mod"),
      `${readFileSync(join(work, "dep-go/go.mod"), "utf8")}\nreplace github.com/tencentyun/scf-go-lib => ${join(ROOT, "test/fixtures/go/scf-go-lib")}\n`,
    );
    const go = await updraft(["deploy", "dep-go", "-n", ns], { GOPROXY: "off", GOWORK: "off" });
    assert.equal(go.status, 0, go.stderr);
    const stored = /code (updraft:packages\/([a-f0-9]{64})) \((\d+) bytes, in the code store\)/.exec(
      go.stderr,
    );
    assert.ok(stored, go.stderr);
    assert.ok(Number(stored[3]) > 1_000_000, `a package over a ConfigMap's size: ${stored[3]} bytes`);
    const goFn = JSON.parse(kubectlOk(["-n", ns, "get", "function", "dep-go", "-o", "json"])) as {
      spec: { code: { url: string; sha256: string } };
    };
    assert.deepEqual(goFn.spec.code, { url: stored[1], sha256: stored[2] });
    assert.match(await answerOf("dep-go"), /"message":"Hello, world!"/);
    goPackage = stored[2]!;

    // Without function.yaml and without --runtime: usage, nothing applied.
    mkdirSync(join(work, "bare"));
    writeFileSync(join(work, "bare/index.js"), "exports.main_handler = async () => 1;\n");
    const bare = await updraft(["deploy", "bare", "-n", ns]);
    assert.equal(bare.status, 2);
    assert.match(bare.stderr, /no function\.yaml in bare: give --runtime/);
  });

  it("the code store: a package is fetched only with its function's instance key, a wrong SHA-256 keeps nothing, uploading needs create packages", async () => {
    assert.ok(goPackage, "the deploy test kept the Go package");
    const fetchPath = (fn: string, sha = goPackage) =>
      `${base}/v1/namespaces/${ns}/packages/${sha}?function=${fn}`;
    // The Go function's own key: the package, byte for byte.
    const own = await fetch(fetchPath("dep-go"), { headers: await instanceKeyOf(ns, "dep-go") });
    assert.equal(own.status, 200);
    assert.equal(sha256(Buffer.from(await own.arrayBuffer())), goPackage);
    // No key, or another function's key (for its own name or for dep-go's): refused.
    for (const [why, fn, headers] of [
      ["no key", "dep-go", {}],
      ["another function's key", "dep-go", await instanceKeyOf(ns, "dep-pkg")],
      ["another function's key, asking as it", "dep-pkg", await instanceKeyOf(ns, "dep-java")],
    ] as const) {
      const r = await fetch(fetchPath(fn), { headers });
      const body = (await r.json()) as { errorType: string };
      assert.equal(r.status, 403, why);
      assert.equal(body.errorType, "Forbidden", why);
    }

    // An upload whose bytes are not the package it names: 400, and nothing kept.
    const bytes = Buffer.from("not the package it says it is");
    const claimed = sha256(Buffer.from("something else"));
    const upload = (sha: string, headers: Record<string, string>) =>
      fetch(`${base}/v1/namespaces/${ns}/packages?sha256=${sha}`, {
        method: "POST",
        headers: { "content-type": "application/octet-stream", ...headers },
        body: bytes,
      });
    // A developer of this namespace: a RoleBinding to updraft-developer (create packages).
    kubectlOk(
      ["-n", ns, "apply", "-f", "-"],
      `apiVersion: v1
kind: ServiceAccount
metadata: {name: packager}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata: {name: packager}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: updraft-developer}
subjects: [{kind: ServiceAccount, name: packager, namespace: ${ns}}]
`,
    );
    const admin = { authorization: `Bearer ${kubectlOk(["-n", ns, "create", "token", "packager"]).trim()}` };
    const wrong = await upload(claimed, admin);
    assert.equal(wrong.status, 400, await wrong.clone().text());
    assert.equal(((await wrong.json()) as { errorType: string }).errorType, "PackageChecksumMismatch");
    const gone = await fetch(fetchPath("dep-go", claimed), { headers: await instanceKeyOf(ns, "dep-go") });
    assert.equal(gone.status, 404, "nothing was kept under the claimed SHA-256");
    assert.equal(((await gone.json()) as { errorType: string }).errorType, "PackageNotFound");
    // The right bytes are kept and fetched back.
    const right = await upload(sha256(bytes), admin);
    assert.equal(right.status, 201, await right.clone().text());
    assert.deepEqual(await right.json(), {
      url: `updraft:packages/${sha256(bytes)}`,
      sha256: sha256(bytes),
      bytes: bytes.length,
    });
    // Without a token: 401; with one that may invoke functions but not create packages: 403.
    assert.equal((await upload(sha256(bytes), {})).status, 401);
    assert.equal((await upload(sha256(bytes), invokeAuth())).status, 403);
  });

  it("every runtime's scaffold, built and packaged as its README says, is applied as written and answers through the API server", async () => {
    const expected: Record<string, RegExp> = {
      nodejs24: /"message":"Hello, you!"/,
      nodejs22: /"message":"Hello, you!"/,
      "python3.11": /"message": ?"Hello, you!"/,
      "php8.2": /"message":"Hello, you!"/,
      custom: /"message": ?"Hello from bash!"/,
      go1: /"message":"Hello, you!"/,
      java17: /"message":"Hello, you!"/,
      java21: /"message":"Hello, you!"/,
    };
    for (const runtime of Object.keys(expected)) {
      const name = `hello-${runtime.replace(".", "")}`;
      const made = await updraft(["init", runtime, name]);
      assert.equal(made.status, 0, made.stderr);
      const dir = join(work, name);
      if (runtime === "go1") {
        // This machine's Go proxy refuses scf-go-lib: the stand-in the conformance function
        // builds against (test/fixtures/go), by a replace line; the source is as scaffolded.
        writeFileSync(
          join(dir, "go.mod"),
          `${readFileSync(join(dir, "go.mod"), "utf8")}\nreplace github.com/tencentyun/scf-go-lib => ${join(ROOT, "test/fixtures/go/scf-go-lib")}\n`,
        );
        const env = { ...process.env, GOFLAGS: "-mod=mod", GOPROXY: "off", GOWORK: "off" };
        execFileSync("go", ["mod", "tidy"], { cwd: dir, env, stdio: "inherit" });
        execFileSync("go", ["build", "-ldflags=-s -w", "-o", "main", "."], {
          cwd: dir,
          env: { ...env, GOOS: "linux", GOARCH: "amd64", CGO_ENABLED: "0" },
          stdio: "inherit",
        });
        execFileSync("zip", ["-q", "main.zip", "main"], { cwd: dir });
        const zip = readFileSync(join(dir, "main.zip"));
        const s = await servePackages(new Map([["main.zip", zip]]));
        packages = s.server;
        // The README's sed line, with the URL the test serves it at.
        const manifest = readFileSync(join(dir, "function.yaml"), "utf8")
          .replace(/url: .*/, `url: ${s.url}/main.zip`)
          .replace(/sha256: .*/, `sha256: ${sha256(zip)}`);
        writeFileSync(join(dir, "function.yaml"), manifest);
      }
      if (runtime.startsWith("java")) {
        // This machine's JDK is 17: the java21 scaffold's classes are made for 17 here (they
        // run on 21 as they are).
        const release = runtime === "java21" ? ["-Dmaven.compiler.release=17"] : [];
        execFileSync("mvn", ["-q", "-B", ...release, "package"], { cwd: dir, stdio: "inherit" });
        kubectlOk([
          "-n",
          ns,
          "create",
          "configmap",
          `${name}-code`,
          `--from-file=code.jar=${join(dir, `target/${name}.jar`)}`,
        ]);
      }
      kubectlOk(["-n", ns, "apply", "-f", join(dir, "function.yaml")]);
    }
    for (const [runtime, answer] of Object.entries(expected)) {
      const name = `hello-${runtime.replace(".", "")}`;
      await waitFor(
        `${name} Ready`,
        async () =>
          kubectl([
            "-n",
            ns,
            "get",
            "function",
            name,
            "-o",
            "jsonpath={.status.conditions[?(@.type=='Ready')].status}",
          ]).stdout === "True",
        120_000,
        500,
      );
      const called = await invokeWithCli(name, { name: "you" });
      assert.equal(called.status, 0, `${runtime}: ${called.stderr}\n${called.stdout}`);
      assert.match(called.stdout, answer, `${runtime}: ${called.stdout}`);
      assert.match(called.stderr, /status 200 · request id [0-9a-f-]{36}/, runtime);
    }
  });
});
