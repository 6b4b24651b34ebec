/**
 * End to end on the local cluster: Updraft installed with Helm (controller,
 * activator and autoscaler as pods on the kubelet), functions invoked through the
 * activator's Service, woken from zero and put back to zero.
 */
import assert from "node:assert/strict";
import { execFileSync, spawnSync } from "node:child_process";
import { createHash, randomUUID, X509Certificate } from "node:crypto";
import { chmodSync, readFileSync, writeFileSync } from "node:fs";
import { createServer } from "node:http";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { connect as tlsConnect } from "node:tls";
import { InstanceChannel } from "../../src/activator/instance-channel.ts";
import { INSTANCE_CHANNEL_PORT } from "../../src/protocol/instance-channel.ts";
import { tempDir } from "../support/temp-dir.ts";
import {
  applyYaml,
  apps,
  componentMetric,
  componentPodIPs,
  core,
  deleteNamespace,
  getFunction,
  HOST_IP,
  installFullUpdraft,
  instanceKeyOf,
  invokeAuth,
  invokerToken,
  isReady,
  kubectl,
  kubectlOk,
  newNamespace,
  nodeFunction,
  ROOT,
  SYSTEM_NAMESPACE,
  waitFor,
} from "./harness.ts";

let base = "";
let ns = "";

/**
 * A function's running instance as the API server shows it, with its address: the activator
 * may have served it before the kubelet reported the pod's IP (the instance announces
 * itself), so this waits for the report.
 */
function reportedInstance(fn: string) {
  return waitFor(
    `${fn}'s instance, as the kubelet reports it`,
    async () =>
      (
        await core.listNamespacedPod({ namespace: ns, labelSelector: `updraft.dev/function=${fn}` })
      ).items.find((p) => p.status?.podIP && !p.metadata?.deletionTimestamp),
    30_000,
    100,
  );
}

interface Invocation {
  status: number;
  body: string;
  json: unknown;
  headers: Headers;
}

async function invoke(
  name: string,
  body: string | Buffer = "{}",
  headers: Record<string, string> = {},
): Promise<Invocation> {
  const res = await fetch(`${base}/v1/namespaces/${ns}/functions/${name}/invocations`, {
    method: "POST",
    headers: { "content-type": "application/json", ...invokeAuth(), ...headers },
    body,
    signal: AbortSignal.timeout(120_000),
  });
  const text = await res.text();
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    json = undefined;
  }
  return { status: res.status, body: text, json, headers: res.headers };
}

/**
 * Waits for the activators to refuse `name` with 503 FunctionNotReady (once they see the
 * status the controller wrote), then checks the next call is refused at once — no wait for
 * an instance that cannot come (a cold-start wait is tens of seconds). The refusal's message.
 */
async function refusedAtOnce(name: string, body: string): Promise<string> {
  const refused = await waitFor(
    "a FunctionNotReady refusal",
    async () => {
      const r = await invoke(name, body);
      return (r.json as { errorType?: string }).errorType === "FunctionNotReady" ? r : undefined;
    },
    30_000,
    500,
  );
  assert.equal(refused.status, 503);
  const t0 = Date.now();
  assert.equal((await invoke(name, body)).status, 503);
  assert.ok(Date.now() - t0 < 5_000, `refused in ${Date.now() - t0} ms`);
  return (refused.json as { errorMessage: string }).errorMessage;
}

const fn = (
  name: string,
  runtime: string,
  files: Record<string, string>,
  extra = "",
  handler = "index.main_handler",
) =>
  `apiVersion: updraft.dev/v1alpha1
kind: Function
metadata: {name: ${name}}
spec:
  runtime: ${runtime}
${handler ? `  handler: ${handler}\n` : ""}  scaling: {scaleToZeroAfterSeconds: 8}
${extra}  code:
    inline:
${Object.entries(files)
  .map(
    ([f, c]) =>
      `      ${f}: |\n${c
        .split("\n")
        .map((l) => `        ${l}`)
        .join("\n")}`,
  )
  .join("\n")}
`;

const NODE_HELLO = `exports.main_handler = async (event, context) => {
  console.log("node saw", JSON.stringify(event));
  return { hello: event.name, context, env: { SCF_FUNCTIONNAME: process.env.SCF_FUNCTIONNAME, cwd: process.cwd() } };
};`;
const PY_HELLO = `import os
def main_handler(event, context):
    print("python saw", event)
    return {"hello": event.get("name"), "context": context, "cwd": os.getcwd()}`;

async function replicas(name: string): Promise<number> {
  return (await apps.readNamespacedDeployment({ name: `fn-${name}`, namespace: ns })).spec?.replicas ?? -1;
}

/** Instance announcements of an outcome, summed over the activators. */
const activatorAnnouncements = (outcome: string) =>
  componentMetric("activator", "updraft_activator_instance_announcements_total", { outcome });

describe("end to end", () => {
  before(async () => {
    // Updraft as users install it.
    base = await installFullUpdraft();
    ns = await newNamespace("e2e");
    applyYaml(
      ns,
      [
        fn("node-hello", "nodejs24", { "index.js": NODE_HELLO }),
        fn("php-hello", "php8.2", {
          "index.php": `<?php
function main_handler($event, $context) {
    echo "php saw " . json_encode($event) . "\\n";
    if (isset($event->throw)) throw new InvalidArgumentException("bad input: " . $event->throw);
    return ["hello" => $event->name, "request_id" => $context->request_id, "memory" => $context->memory_limit_in_mb,
        "version" => PHP_VERSION, "scfPath" => is_executable("/var/lang/php7/bin/php"), "cwd" => getcwd()];
}`,
        }),
        fn("node22", "nodejs22", {
          "index.js": `const fs = require("node:fs");
exports.main_handler = async (event, context) => ({
  version: process.version,
  scfPaths: ["/var/lang/node16/bin/node", "/var/lang/node22/bin/node"].map((p) => fs.existsSync(p)),
  requestId: context.request_id,
});`,
        }),
        fn("py-hello", "python3.11", { "index.py": PY_HELLO }),
        fn("echo", "python3.11", { "index.py": "def main_handler(event, context):\n    return event" }),
        fn(
          "errors",
          "nodejs24",
          {
            "index.js": `exports.main_handler = async (event) => {
  if (event.throw) throw new TypeError("bad input: " + event.throw);
  if (event.sleep) await new Promise((r) => setTimeout(r, event.sleep));
  if (event.exit) process.exit(event.exit);
  if (event.big) return "x".repeat(event.big);
  return "ok";
};`,
          },
          "  timeoutSeconds: 1\n",
        ),
        fn("facts", "python3.11", {
          "index.py": `import os, resource, socket
def main_handler(event, context):
    try:
        open("/root-write-test", "w")
        root = "writable"
    except OSError as e:
        root = e.strerror
    with open("/tmp/t", "w") as f:
        f.write("x")
    return {"uid": os.getuid(), "root": root, "tmp": os.path.getsize("/tmp/t"),
            "api": socket.gethostbyname("kubernetes.default.svc.cluster.local"),
            "openFiles": list(resource.getrlimit(resource.RLIMIT_NOFILE)),
            "instanceKey": os.environ.get("UPDRAFT_INSTANCE_KEY")}`,
        }),
        fn("no-handler", "python3.11", { "index.py": "def other(event, context):\n    return 1" }),
        fn(
          "slow-init",
          "python3.11",
          { "index.py": "import time\ntime.sleep(30)\ndef main_handler(e, c):\n    return 1" },
          "  initTimeoutSeconds: 2\n",
        ),
        fn("fetcher", "nodejs24", {
          "index.js": `exports.main_handler = async () => {
  const res = await fetch("http://updraft-activator.updraft-system.svc:8080/nothing-here");
  return { status: res.status };
};`,
        }),
        fn("callback", "nodejs24", {
          "index.js": `exports.main_handler = (event, context, callback) => {
  let later = "unset";
  setTimeout(() => { later = "ran"; console.log("timer ran"); }, 300);
  callback(null, { at: "callback", waits: context.callbackWaitsForEmptyEventLoop });
};`,
        }),
        fn(
          "bash-custom",
          "custom",
          {
            bootstrap: `#!/bin/bash
# A custom runtime written against SCF's documented runtime API, with curl.
set -euo pipefail
api="http://$SCF_RUNTIME_API:$SCF_RUNTIME_API_PORT"
curl -s -X POST "$api/runtime/init/ready" -d ''
while true; do
  headers=$(mktemp)
  event=$(curl -s -D "$headers" "$api/runtime/invocation/next")
  rid=$(grep -i '^request_id:' "$headers" | tr -d '\\r' | awk '{print $2}')
  echo "bash got $event"
  curl -s -X POST "$api/runtime/invocation/response" -d "{\\"echo\\": $event, \\"rid\\": \\"$rid\\"}"
  rm -f "$headers"
done`,
          },
          "  memoryMB: 64\n",
          "",
        ),
      ].join("---\n"),
    );
    await waitFor(
      "functions Ready",
      () => {
        const out = kubectlOk([
          "get",
          "functions",
          "-n",
          ns,
          "-o",
          'jsonpath={.items[*].status.conditions[?(@.type=="Ready")].status}',
        ]);
        return out.split(" ").filter((s) => s === "True").length === 12;
      },
      60_000,
    );
  });
  after(async () => deleteNamespace(ns));

  it("Node.js hello: cold from zero, then warm", async () => {
    assert.equal(await replicas("node-hello"), 0, "starts at zero");
    const announcedBefore = await activatorAnnouncements("accepted");
    const cold = await invoke("node-hello", JSON.stringify({ name: "cold" }), {
      "X-Updraft-Log-Type": "Tail",
    });
    assert.equal(cold.status, 200, cold.body);
    assert.equal((cold.json as { hello: string }).hello, "cold");
    assert.ok(cold.headers.get("x-updraft-init-duration-ms"), "a cold start reports its init duration");
    const log = Buffer.from(cold.headers.get("x-updraft-log-result") ?? "", "base64").toString();
    const rid = cold.headers.get("x-updraft-request-id")!;
    assert.match(log, new RegExp(`^START RequestId:${rid}$`, "m"));
    assert.match(
      log,
      new RegExp(
        `^Init Report RequestId: ${rid} Coldstart: \\d+ms \\(PullCode: \\d+ms InitRuntime: \\d+ms InitFunction: \\d+ms\\) Memory: 128MB MemUsage: [\\d.]+MB$`,
        "m",
      ),
    );
    assert.match(log, /^node saw \{"name":"cold"\}$/m);
    assert.match(log, new RegExp(`^END RequestId:${rid}$`, "m"));
    assert.match(
      log,
      new RegExp(`^Report RequestId:${rid} Duration:\\d+ms Memory:128MB MemUsage:[\\d.]+MB$`, "m"),
    );
    // The instance announced itself, and every activator took it (one first-hand, the
    // others passed on): the cold request did not wait for the kubelet's report.
    const activators = (await componentPodIPs("activator")).length;
    await waitFor(
      "every activator took the new instance's announcement",
      async () => (await activatorAnnouncements("accepted")) - announcedBefore >= activators,
      10_000,
    );
    const warm = await invoke("node-hello", JSON.stringify({ name: "warm" }));
    assert.equal(warm.status, 200);
    assert.equal(warm.headers.get("x-updraft-init-duration-ms"), null, "warm: no init");
    assert.match(warm.headers.get("x-updraft-billed-duration-ms") ?? "", /^\d+$/);
    assert.ok(Number(warm.headers.get("x-updraft-duration-ms")) >= 0);
  });

  it("a call straight to an instance's ports (HTTP and the instance channel), without its function's key, is refused 401 — only the activators hold it", async () => {
    const r0 = await invoke("node-hello", JSON.stringify({ name: "keyed" }));
    assert.equal(r0.status, 200, "through the activator it is served");
    const pod = await reportedInstance("node-hello");
    const direct = (headers: Record<string, string>) =>
      fetch(`http://${pod.status!.podIP}:8080/invoke`, {
        method: "POST",
        headers,
        body: '{"name":"direct"}',
      });
    const none = await direct({});
    assert.equal(none.status, 401);
    assert.equal(((await none.json()) as { errorType: string }).errorType, "InstanceKeyRequired");
    // Another function's key does not open it either.
    const wrong = await direct(await instanceKeyOf(ns, "echo"));
    assert.equal(wrong.status, 401);
    await wrong.arrayBuffer();
    // Its own key (in its Secret, which the namespace's viewers cannot read) opens it.
    const ok = await direct(await instanceKeyOf(ns, "node-hello"));
    assert.equal(ok.status, 200);
    assert.equal(((await ok.json()) as { hello: string }).hello, "direct");
    // The instance channel, as the activators speak it: its hello must show the same key.
    const overChannel = async (key: string | undefined) => {
      const channel = new InstanceChannel(pod.status!.podIP!, INSTANCE_CHANNEL_PORT, key, () => undefined);
      try {
        return await channel.call({ requestId: randomUUID() }, Buffer.from('{"name":"channel"}'), 10_000);
      } finally {
        channel.close();
      }
    };
    const keyOf = async (fn: string) => Object.values(await instanceKeyOf(ns, fn))[0];
    await assert.rejects(overChannel(undefined), /refused the activator's key \(401\)/);
    await assert.rejects(overChannel(await keyOf("echo")), /refused the activator's key \(401\)/);
    const served = await overChannel(await keyOf("node-hello"));
    assert.ok(typeof served === "object", `answered: ${String(served)}`);
    assert.equal(served.statusCode, 200);
    assert.equal((JSON.parse(served.body.toString()) as { hello: string }).hello, "channel");
  });

  it("an instance announcement the API server does not back is refused with a code, and nothing is routed to it", async () => {
    const pod = await reportedInstance("node-hello");
    const announce = (body: unknown) =>
      fetch(`${base}/internal/instances`, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify(body),
      });
    const refusedBefore = await activatorAnnouncements("refused");
    // The pod's real name, but not its UID: what a pod that cannot read this namespace knows.
    const forged = await announce({
      namespace: ns,
      pod: pod.metadata!.name,
      uid: "11111111-2222-4333-8444-555555555555",
      ip: "10.244.0.250",
    });
    assert.equal(forged.status, 403);
    assert.equal(((await forged.json()) as { errorType: string }).errorType, "InstanceNotVerified");
    // Its real UID but another address.
    const elsewhere = await announce({
      namespace: ns,
      pod: pod.metadata!.name,
      uid: pod.metadata!.uid,
      ip: "10.244.0.250",
    });
    assert.equal(elsewhere.status, 403);
    await elsewhere.arrayBuffer();
    const malformed = await announce({ namespace: ns, pod: pod.metadata!.name });
    assert.equal(malformed.status, 400);
    assert.equal(((await malformed.json()) as { errorType: string }).errorType, "InvalidParameter");
    assert.equal((await activatorAnnouncements("refused")) - refusedBefore, 2);
    // The function is served as before, by its instance.
    assert.equal((await invoke("node-hello", JSON.stringify({ name: "after" }))).status, 200);
  });

  it("PHP: main_handler($event, $context) with the event as objects; echo goes to the log; an exception is 430", async () => {
    const r = await invoke("php-hello", JSON.stringify({ name: "php" }), { "X-Updraft-Log-Type": "Tail" });
    assert.equal(r.status, 200, r.body);
    const got = r.json as Record<string, unknown>;
    assert.equal(got.hello, "php");
    assert.equal(got.request_id, r.headers.get("x-updraft-request-id"));
    assert.equal(got.memory, 128);
    assert.match(String(got.version), /^8\.2\./);
    assert.equal(got.scfPath, true);
    assert.equal(got.cwd, "/var/user");
    const log = Buffer.from(r.headers.get("x-updraft-log-result") ?? "", "base64").toString();
    assert.match(log, /^php saw \{"name":"php"\}$/m);
    const e = await invoke("php-hello", JSON.stringify({ throw: "x" }));
    assert.equal(e.headers.get("x-updraft-function-error"), "430", e.body);
    const err = e.json as { errorCode: number; errorMessage: string; errorType: string };
    assert.deepEqual(
      [err.errorCode, err.errorMessage, err.errorType],
      [430, "bad input: x", "InvalidArgumentException"],
    );
  });

  it("Node.js 22 runs the function (the shim stays on 24), with SCF's interpreter paths", async () => {
    const r = await invoke("node22", "{}");
    assert.equal(r.status, 200, r.body);
    const got = r.json as { version: string; scfPaths: boolean[]; requestId: string };
    assert.match(got.version, /^v22\./);
    assert.deepEqual(got.scfPaths, [true, true]);
    assert.equal(got.requestId, r.headers.get("x-updraft-request-id"));
  });

  it("Python hello: cold then warm, with every context field and the SCF environment", async () => {
    const cold = await invoke("py-hello", JSON.stringify({ name: "py" }));
    assert.equal(cold.status, 200, cold.body);
    const r = cold.json as { hello: string; cwd: string; context: Record<string, unknown> };
    assert.equal(r.hello, "py");
    assert.equal(r.cwd, "/var/user");
    const c = r.context;
    for (const k of [
      "memory_limit_in_mb",
      "time_limit_in_ms",
      "request_id",
      "environment",
      "environ",
      "function_version",
      "function_name",
      "namespace",
      "tencentcloud_region",
      "tencentcloud_appid",
      "tencentcloud_uin",
    ]) {
      assert.ok(k in c, `context.${k}`);
    }
    assert.equal(c.memory_limit_in_mb, 128);
    assert.equal(c.time_limit_in_ms, 3000);
    assert.equal(c.request_id, cold.headers.get("x-updraft-request-id"));
    assert.equal(c.function_name, "py-hello");
    assert.equal(c.function_version, "$LATEST");
    assert.equal(c.namespace, ns);
    assert.equal(JSON.parse(String(c.environment)).SCF_NAMESPACE, ns);
    assert.match(String(c.environ), new RegExp(`SCF_NAMESPACE=${ns}`));
    const warm = await invoke("py-hello", JSON.stringify({ name: "again" }));
    assert.equal((warm.json as { hello: string }).hello, "again");
    assert.equal(warm.headers.get("x-updraft-init-duration-ms"), null);
  });

  it("every event shape in the fixtures reaches the function unchanged", async () => {
    // SCF's event shapes, as in test/fixtures/events.
    const dir = join(ROOT, "test/fixtures/events");
    for (const f of ["timer.json", "apigw-request.json", "cos.json", "ckafka.json", "cmq-topic.json"]) {
      const text = readFileSync(join(dir, f), "utf8");
      const r = await invoke("echo", text);
      assert.equal(r.status, 200, `${f}: ${r.body}`);
      assert.deepEqual(r.json, JSON.parse(text), `${f} arrives unchanged`);
    }
  });

  it("a function runs this tree's runtime image from the local registry, non-root on a read-only root, with cluster DNS and SCF's 1,024 open files", async () => {
    const r = await invoke("facts");
    assert.equal(r.status, 200, r.body);
    assert.deepEqual(r.json, {
      uid: 10001,
      root: "Read-only file system",
      tmp: 1,
      api: "10.96.0.1",
      openFiles: [1024, 1024],
      instanceKey: null,
    });
    // The answer may come before the kubelet reports the container (the instance announced
    // itself): wait for its report.
    const pod = await waitFor(
      "the kubelet's report of the facts pod",
      async () =>
        (
          await core.listNamespacedPod({ namespace: ns, labelSelector: "updraft.dev/function=facts" })
        ).items.find((p) => p.status?.containerStatuses?.[0]?.imageID),
      30_000,
      100,
    );
    const status = pod.status!.containerStatuses![0]!;
    assert.match(status.imageID, /^localhost:5000\/updraft\/runtime-python3\.11@sha256:[0-9a-f]{64}$/);
    const c = pod.spec!.containers[0]!;
    assert.equal(c.securityContext?.readOnlyRootFilesystem, true);
    assert.deepEqual(c.securityContext?.capabilities?.drop, ["ALL"]);
    assert.equal(pod.spec!.securityContext?.seccompProfile?.type, "RuntimeDefault");
    const tmp = pod.spec!.volumes!.find((v) => v.name === "tmp")!;
    assert.deepEqual(
      { ...tmp.emptyDir },
      { sizeLimit: "512Mi" },
      "disk-backed: the kubelet evicts past 512 Mi",
    );
  });

  it("a user exception is 430 with the traceback", async () => {
    const r = await invoke("errors", JSON.stringify({ throw: "x" }));
    assert.equal(r.status, 200);
    assert.equal(r.headers.get("x-updraft-function-error"), "430");
    const e = r.json as { errorCode: number; errorMessage: string; errorType: string; stackTrace: string };
    assert.equal(e.errorCode, 430);
    assert.equal(e.errorMessage, "bad input: x");
    assert.match(e.stackTrace, /TypeError: bad input: x/);
  });

  it("a time-out is 433, and the instance recovers", async () => {
    const r = await invoke("errors", JSON.stringify({ sleep: 5000 }));
    assert.equal(r.headers.get("x-updraft-function-error"), "433", r.body);
    assert.equal((r.json as { errorCode: number }).errorCode, 433);
    const ok = await invoke("errors", "{}");
    assert.equal(ok.body, '"ok"');
  });

  it("a result over 6 MB is 407 (SCF's code), one under it is returned", async () => {
    const r = await invoke("errors", JSON.stringify({ big: 7 * 1024 * 1024 }));
    assert.equal(r.headers.get("x-updraft-function-error"), "407", r.body.slice(0, 200));
    assert.equal((r.json as { errorCode: number }).errorCode, 407);
    const ok = await invoke("errors", JSON.stringify({ big: 1024 * 1024 }));
    assert.equal(ok.body.length, 1024 * 1024 + 2);
  });

  it("a code.url zip is downloaded, checked and unpacked by the shim (a Web function's scf_bootstrap stays executable)", async () => {
    const src = tempDir("pkg");
    writeFileSync(join(src, "index.js"), "exports.main_handler = async () => 'from a package';\n");
    writeFileSync(
      join(src, "app.js"),
      "require('node:http').createServer((q, r) => r.end('web from a package')).listen(9000);\n",
    );
    writeFileSync(join(src, "scf_bootstrap"), "#!/bin/sh\nexec node app.js\n");
    chmodSync(join(src, "scf_bootstrap"), 0o755);
    const zip = join(tempDir("zip"), "code.zip");
    execFileSync("zip", ["-qr", zip, "."], { cwd: src });
    const body = readFileSync(zip);
    const sha = createHash("sha256").update(body).digest("hex");
    const server = createServer((_req, res) => res.end(body));
    await new Promise<void>((r) => server.listen(0, HOST_IP, () => r()));
    const url = `http://${HOST_IP}:${(server.address() as { port: number }).port}/code.zip`;
    try {
      applyYaml(
        ns,
        `apiVersion: updraft.dev/v1alpha1
kind: Function
metadata: {name: packaged}
spec: {runtime: nodejs24, handler: index.main_handler, code: {url: "${url}", sha256: "${sha}"}}
---
apiVersion: updraft.dev/v1alpha1
kind: Function
metadata: {name: packaged-web}
spec: {runtime: nodejs24, type: Web, code: {url: "${url}", sha256: "${sha}"}}
---
apiVersion: updraft.dev/v1alpha1
kind: Trigger
metadata: {name: packaged-web}
spec: {function: packaged-web, type: Http, http: {path: /packaged-web}}
`,
      );
      await waitFor("packaged Ready", async () => isReady(await getFunction(ns, "packaged")), 60_000, 500);
      const r = await invoke("packaged");
      assert.equal(r.body, '"from a package"');
      await waitFor(
        "packaged-web Ready",
        async () => isReady(await getFunction(ns, "packaged-web")),
        60_000,
        500,
      );
      const w = await fetch(`${base}/http/${ns}/packaged-web`, { signal: AbortSignal.timeout(120_000) });
      assert.equal(await w.text(), "web from a package");
    } finally {
      server.close();
    }
  });

  it("a process exit is 439, and the instance recovers", async () => {
    const r = await invoke("errors", JSON.stringify({ exit: 3 }));
    assert.equal(r.headers.get("x-updraft-function-error"), "439", r.body);
    const ok = await invoke("errors", "{}");
    assert.equal(ok.body, '"ok"');
  });

  it("a missing handler is 437", async () => {
    const r = await invoke("no-handler", "{}");
    assert.equal(r.headers.get("x-updraft-function-error"), "437", r.body);
    assert.equal((r.json as { errorType: string }).errorType, "HandlerNotFound");
  });

  it("an init that outlasts initTimeoutSeconds is 450", async () => {
    const r = await invoke("slow-init", "{}");
    assert.equal(r.headers.get("x-updraft-function-error"), "450", r.body);
  });

  it("callback handlers answer, and wait for the event loop by default", async () => {
    const r = await invoke("callback", "{}", { "X-Updraft-Log-Type": "Tail" });
    assert.deepEqual(r.json, { at: "callback", waits: true });
    const log = Buffer.from(r.headers.get("x-updraft-log-result") ?? "", "base64").toString();
    assert.match(log, /^timer ran$/m, "the timer finished before the answer");
  });

  it("an async handler answers when its promise settles: fetch's kept-alive socket does not hold it", async () => {
    const t0 = Date.now();
    const r = await invoke("fetcher", "{}");
    assert.equal(r.headers.get("x-updraft-function-error"), null, r.body);
    assert.deepEqual(r.json, { status: 404 }); // the activator's answer to an unknown path
    // Well under the 3 s time-out it would otherwise have waited for.
    assert.ok(Date.now() - t0 < 2500, `took ${Date.now() - t0} ms`);
  });

  it("a bash + curl custom runtime written against SCF's API works unmodified", async () => {
    const r = await invoke("bash-custom", JSON.stringify({ n: 1 }));
    assert.equal(r.status, 200, r.body);
    assert.deepEqual((r.json as { echo: unknown }).echo, { n: 1 });
    assert.equal((r.json as { rid: string }).rid, r.headers.get("x-updraft-request-id"));
  });

  it("platform refusals: 435 unknown function, 400 not JSON, 406 over 6 MB", async () => {
    const unknown = await invoke("does-not-exist", "{}");
    assert.equal(unknown.status, 435);
    assert.equal((unknown.json as { errorCode: number }).errorCode, 435);
    const bad = await invoke("node-hello", "{not json");
    assert.equal(bad.status, 400);
    assert.equal((bad.json as { errorType: string }).errorType, "InvalidEvent");
    const big = await invoke("node-hello", Buffer.alloc(6 * 1024 * 1024 + 10, "a"));
    assert.equal(big.status, 406);
  });

  it("the activator serves the invoke API's OpenAPI document at /openapi.json, to anyone", async () => {
    const r = await fetch(`${base}/openapi.json`);
    assert.equal(r.status, 200);
    const served = (await r.json()) as { openapi: string; paths: Record<string, unknown> };
    const file = JSON.parse(readFileSync(join(ROOT, "src/protocol/openapi.json"), "utf8")) as unknown;
    assert.deepEqual(served, file);
    assert.equal(served.openapi, "3.1.0");
  });

  it("an instance that exits at start (its package is not there) is said with the shim's code and reason, in the 503 of a call that waited for it and in the status, and once held as failing calls are refused at once", async () => {
    const missing = createServer((_req, res) => res.writeHead(404).end());
    await new Promise<void>((r) => missing.listen(0, HOST_IP, () => r()));
    try {
      const url = `http://${HOST_IP}:${(missing.address() as { port: number }).port}/gone.zip`;
      applyYaml(
        ns,
        `apiVersion: updraft.dev/v1alpha1
kind: Function
metadata: {name: gone}
spec:
  runtime: nodejs24
  handler: index.main_handler
  code: {url: "${url}", sha256: "${"0".repeat(64)}"}
  timeoutSeconds: 3
  initTimeoutSeconds: 20
`,
      );
      await waitFor("Ready (at zero)", async () => isReady(await getFunction(ns, "gone")));
      // The call wakes an instance that exits at once (a 404 is not tried again); it waits
      // out its cold start (20 + 3 s) for the kubelet's restart, then hears why.
      const r = await invoke("gone");
      assert.equal(r.status, 503, r.body);
      const e = r.json as { errorType: string; errorMessage: string };
      assert.equal(e.errorType, "NoInstanceReady");
      const said = `updraft-runtime: CodeDownloadFailed: code package ${url} could not be downloaded: Error: HTTP 404`;
      // The caller hears the condition and its reason; the status has the rest.
      assert.match(
        e.errorMessage,
        /; its status: InstancesHealthy (Unknown|False) CodeDownloadFailed \(kubectl get function gone -n \S+ -o yaml says why\)$/,
      );
      // Once the pod is 30 s old, the status holds it as failing.
      const failing = await waitFor(
        "InstancesHealthy False",
        async () => {
          const c = (await getFunction(ns, "gone")).status?.conditions?.find(
            (c) => c.type === "InstancesHealthy",
          );
          return c?.status === "False" ? c : undefined;
        },
        60_000,
      );
      // The shim's code names the failure, in place of the kubelet's CrashLoopBackOff.
      assert.equal(failing.reason, "CodeDownloadFailed");
      const message = failing.message ?? "";
      assert.ok(
        message.startsWith("instance fn-gone-") &&
          message.endsWith(`: container function: exited with code 1 (Error): ${said}`),
        message,
      );
      // No restart can fetch it: from now on calls are refused at once, saying why.
      const refusal = await refusedAtOnce("gone", "{}");
      assert.match(refusal, /cannot start an instance: CodeDownloadFailed \(kubectl get function gone -n /);
      // Not the condition's message: a caller may be anyone an Http trigger lets in.
      assert.ok(!refusal.includes("fn-gone-") && !refusal.includes(said), refusal);
    } finally {
      missing.close();
    }
  });

  it("a Function whose ConfigMap is missing answers 503 FunctionNotReady at once, naming why, and serves once it appears", async () => {
    applyYaml(
      ns,
      `apiVersion: updraft.dev/v1alpha1
kind: Function
metadata: {name: awaits-code}
spec: {runtime: python3.11, handler: index.main_handler, code: {configMapRef: {name: awaited-code}}}
`,
    );
    // The activators refuse once they see the status the controller wrote for this spec.
    assert.match(await refusedAtOnce("awaits-code", "{}"), /cannot start an instance: ConfigMapNotFound \(/);
    kubectlOk([
      "-n",
      ns,
      "create",
      "configmap",
      "awaited-code",
      "--from-literal=index.py=def main_handler(e, c): return 'here'",
    ]);
    const served = await waitFor(
      "served once the ConfigMap is there",
      async () => {
        const r = await invoke("awaits-code", "{}");
        return r.status === 200 ? r : undefined;
      },
      120_000,
      1000,
    );
    assert.equal(served.body, '"here"');
  });

  it("200 concurrent requests against a function at zero: all answered, no platform errors, then back to zero", async () => {
    applyYaml(
      ns,
      fn(
        "burst",
        "nodejs24",
        { "index.js": "exports.main_handler = async (e) => ({ i: e.i });" },
        "  concurrency: {perInstance: 20}\n",
      ),
    );
    await waitFor("burst at zero and Ready", async () => (await replicas("burst")) === 0, 60_000);
    const results = await Promise.all(
      Array.from({ length: 200 }, (_, i) => invoke("burst", JSON.stringify({ i }))),
    );
    const statuses = new Map<number, number>();
    for (const r of results) statuses.set(r.status, (statuses.get(r.status) ?? 0) + 1);
    assert.deepEqual([...statuses], [[200, 200]], `statuses: ${JSON.stringify([...statuses])}`);
    for (const [i, r] of results.entries()) assert.deepEqual(r.json, { i });
    assert.ok(results.every((r) => !r.headers.get("x-updraft-function-error")));
    await waitFor("burst back at zero", async () => (await replicas("burst")) === 0, 60_000, 500);
    await waitFor(
      "burst pods gone",
      async () =>
        (await core.listNamespacedPod({ namespace: ns, labelSelector: "updraft.dev/function=burst" })).items
          .length === 0,
      60_000,
      500,
    );
  });

  it("the CLI invokes and prints the result, the request id and the duration", () => {
    const out = execFileSync(
      join(ROOT, "bin/updraft"),
      ["invoke", "node-hello", "-n", ns, "--data", '{"name":"cli"}'],
      {
        env: { ...process.env, UPDRAFT_URL: base, UPDRAFT_TOKEN: invokerToken() },
        encoding: "utf8",
        stdio: ["ignore", "pipe", "pipe"],
      },
    );
    assert.equal((JSON.parse(out) as { hello: string }).hello, "cli");
  });

  it("without UPDRAFT_URL the CLI calls through the API server with the kubeconfig's client certificate (the aggregated API), in the context's namespace", async () => {
    await waitFor(
      "the APIService Available",
      async () =>
        kubectl([
          "get",
          "apiservice",
          "v1alpha1.invoke.updraft.dev",
          "-o",
          "jsonpath={.status.conditions[?(@.type=='Available')].status}",
        ]).stdout === "True",
      120_000,
      500,
    );
    const discovery = JSON.parse(kubectlOk(["get", "--raw", "/apis/invoke.updraft.dev/v1alpha1"])) as {
      resources: Array<{ name: string; verbs: string[] }>;
    };
    assert.deepEqual(discovery.resources.find((r) => r.name === "functions/invocations")?.verbs, ["create"]);
    // A kubeconfig whose context names the test's namespace; its user is the admin's client
    // certificate, which carries no token the activator could check itself.
    const kubeconfig = join(tempDir("kc"), "config");
    const admin = process.env.KUBECONFIG!;
    writeFileSync(kubeconfig, readFileSync(admin));
    execFileSync("kubectl", [
      "--kubeconfig",
      kubeconfig,
      "config",
      "set-context",
      "--current",
      `--namespace=${ns}`,
    ]);
    const env: Record<string, string> = {
      ...(process.env as Record<string, string>),
      KUBECONFIG: kubeconfig,
    };
    delete env.UPDRAFT_URL;
    delete env.UPDRAFT_TOKEN;
    const out = execFileSync(
      join(ROOT, "bin/updraft"),
      ["invoke", "node-hello", "--data", '{"name":"apiserver"}'],
      {
        env,
        encoding: "utf8",
        stdio: ["ignore", "pipe", "pipe"],
      },
    );
    assert.equal((JSON.parse(out) as { hello: string }).hello, "apiserver");
    // The API server's RBAC decides first: a user with no binding is refused there.
    const refused = kubectl(
      [
        "create",
        "--raw",
        `/apis/invoke.updraft.dev/v1alpha1/namespaces/${ns}/functions/node-hello/invocations`,
        "-f",
        "-",
        "--as=nobody",
      ],
      "{}",
    );
    assert.notEqual(refused.code, 0);
    assert.match(refused.stderr, /forbidden/i);
  });

  it("the CLI lists, describes and deletes Functions through the kubeconfig, and says when one is missing", async () => {
    const cli = (args: string[]) =>
      spawnSync(join(ROOT, "bin/updraft"), args, {
        encoding: "utf8",
        env: process.env as Record<string, string>,
      });
    const listed = cli(["list", "-n", ns]);
    assert.equal(listed.status, 0, listed.stderr);
    assert.match(listed.stdout, /^NAME +RUNTIME +READY +INSTANCES +AGE$/m);
    assert.match(listed.stdout, /^node-hello +nodejs24 +True +\d+\/\d+ +\S+$/m);
    const described = cli(["describe", "node-hello", "-n", ns]);
    assert.equal(described.status, 0, described.stderr);
    assert.match(described.stdout, /^Name: +node-hello$/m);
    assert.match(described.stdout, /^ {2}Ready +True/m);
    applyYaml(ns, nodeFunction("doomed", "exports.main_handler = async () => 1;"));
    await waitFor(
      "doomed exists",
      async () => kubectl(["-n", ns, "get", "function", "doomed"]).code === 0,
      30_000,
    );
    const deleted = cli(["delete", "doomed", "-n", ns]);
    assert.equal(deleted.status, 0, deleted.stderr);
    assert.equal(deleted.stdout.trim(), "function.updraft.dev/doomed deleted");
    await waitFor(
      "doomed gone",
      async () => kubectl(["-n", ns, "get", "function", "doomed"]).code !== 0,
      30_000,
    );
    const missing = cli(["describe", "doomed", "-n", ns]);
    assert.equal(missing.status, 1);
    assert.match(missing.stderr, /no Function "doomed" in namespace/);
  });

  it("the API server verifies the activators: the APIService trusts the certificate every activator serves, and skips no verification", async () => {
    const svc = JSON.parse(kubectlOk(["get", "apiservice", "v1alpha1.invoke.updraft.dev", "-o", "json"])) as {
      spec: { caBundle?: string; insecureSkipTLSVerify?: boolean };
    };
    assert.ok(!svc.spec.insecureSkipTLSVerify, "insecureSkipTLSVerify is off");
    const secret = await core.readNamespacedSecret({
      namespace: SYSTEM_NAMESPACE,
      name: "updraft-aggregated-tls",
    });
    const cert = Buffer.from(secret.data!["tls.crt"]!, "base64").toString();
    assert.equal(
      svc.spec.caBundle,
      Buffer.from(cert).toString("base64"),
      "its caBundle is the controller's certificate",
    );
    // Each activator's TLS port verifies against that bundle under the Service's name, as the API server dials it.
    const ips = await componentPodIPs("activator");
    assert.ok(ips.length >= 1);
    for (const ip of ips) {
      const served = await new Promise<string>((resolve, reject) => {
        const socket = tlsConnect(
          { host: ip, port: 8443, ca: cert, servername: `updraft-activator.${SYSTEM_NAMESPACE}.svc` },
          () => {
            const fingerprint = socket.getPeerX509Certificate()?.fingerprint256 ?? "";
            socket.end();
            resolve(fingerprint);
          },
        );
        socket.on("error", reject);
      });
      assert.equal(
        served,
        new X509Certificate(cert).fingerprint256,
        `${ip} serves the controller's certificate`,
      );
    }
  });

  it("the activators' aggregated port believes X-Remote-User only from the API server's certificate", async () => {
    const [ip] = await componentPodIPs("activator");
    // Past the API server, without its front-proxy certificate: refused, whatever user is named.
    const r = spawnSync(
      "curl",
      [
        "-sk",
        "-w",
        "\n%{http_code}",
        "-X",
        "POST",
        "-H",
        "X-Remote-User: system:admin",
        "-H",
        "X-Remote-Group: system:masters",
        "--data",
        "{}",
        `https://${ip}:8443/apis/invoke.updraft.dev/v1alpha1/namespaces/${ns}/functions/node-hello/invocations`,
      ],
      { encoding: "utf8" },
    );
    const lines = r.stdout.trimEnd().split("\n");
    assert.equal(lines.at(-1), "401", r.stdout + r.stderr);
    assert.equal(
      (JSON.parse(lines.slice(0, -1).join("\n")) as { errorType: string }).errorType,
      "Unauthenticated",
    );
  });
});
