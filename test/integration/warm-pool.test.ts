/**
 * Warm pools on the local cluster: Updraft installed with a pool of one Node.js and one
 * Python instance in a namespace; a function's first call there is served by a pool
 * instance specialised as the function (its env, its code, its user), which then becomes
 * one of the function's replicas (adopted by its ReplicaSet, no second pod left over) while
 * the pool refills; a function that cannot use the pool (another memory size) starts a
 * plain pod.
 */
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import {
  applyYaml,
  core,
  deleteNamespace,
  getFunction,
  installFullUpdraft,
  invokeFunction,
  isReady,
  newNamespace,
  nodeFunction,
  readyPoolPods,
  waitFor,
} from "./harness.ts";

let base = "";
let ns = "";

const invoke = (fn: string, event: unknown) => invokeFunction(base, ns, fn, event);

const NODE_CODE = `const os = require("os");
exports.main_handler = async (event) => ({
  host: os.hostname(),
  fn: process.env.SCF_FUNCTIONNAME,
  greeting: process.env.GREETING,
  uid: process.getuid(),
  event,
});`;

const pythonFunction = (name: string) => `apiVersion: updraft.dev/v1alpha1
kind: Function
metadata: {name: ${name}}
spec:
  runtime: python3.11
  handler: index.main_handler
  env: [{name: GREETING, value: hello}]
  code:
    inline:
      index.py: |
        import os, socket
        def main_handler(event, context):
            return {"host": socket.gethostname(), "fn": os.environ["SCF_FUNCTIONNAME"],
                    "greeting": os.environ.get("GREETING"), "uid": os.getuid(), "event": event}
`;

describe("warm pool", { timeout: 600_000 }, () => {
  before(async () => {
    ns = await newNamespace("pool");
    base = await installFullUpdraft({
      "warmPool.namespaces[0]": ns,
      "warmPool.sizes.nodejs24": 1,
      "warmPool.sizes.python3\\.11": 1,
    });
    await waitFor(
      "a ready pool pod per runtime",
      async () => {
        const [node, python] = await Promise.all([
          readyPoolPods(ns, "nodejs24"),
          readyPoolPods(ns, "python3.11"),
        ]);
        return node.length === 1 && python.length === 1;
      },
      180_000,
    );
    applyYaml(
      ns,
      [
        nodeFunction("node-pooled", NODE_CODE, "  env: [{name: GREETING, value: hello}]\n"),
        pythonFunction("py-pooled"),
        nodeFunction("node-big", NODE_CODE, "  memoryMB: 256\n"),
      ].join("---\n"),
    );
    await waitFor("the Functions Ready", async () =>
      (await Promise.all(["node-pooled", "py-pooled", "node-big"].map((f) => getFunction(ns, f)))).every(
        isReady,
      ),
    );
  });

  after(async () => {
    // The next test file installs without the pool; the namespace (and the pool) go now.
    if (ns) await deleteNamespace(ns);
  });

  for (const [fn, runtime] of [
    ["node-pooled", "nodejs24"],
    ["py-pooled", "python3.11"],
  ] as const) {
    it(`${runtime}: the first call is served by a pool instance, specialised as the function`, async () => {
      const [poolPod] = await readyPoolPods(ns, runtime);
      const r = await invoke(fn, { n: 1 });
      assert.equal(r.status, 200, r.body);
      assert.equal(r.json.host, poolPod, "the pool's instance answered, not a new pod");
      assert.equal(r.json.fn, fn, "SCF's environment is the function's");
      assert.equal(r.json.greeting, "hello", "the user's env reached it");
      assert.equal(r.json.uid, 10001, "as the platform's non-root user");
      assert.deepEqual(r.json.event, { n: 1 });
    });

    it(`${runtime}: the specialised pod becomes the function's replica, the pool refills, nothing is left over`, async () => {
      const host = ((await invoke(fn, { n: 2 })).json.host as string) ?? "";
      await waitFor(
        `${host} adopted by ${fn}'s ReplicaSet`,
        async () => {
          const pod = await core.readNamespacedPod({ name: host, namespace: ns });
          const owner = pod.metadata?.ownerReferences?.find((o) => o.controller);
          return (
            pod.metadata?.labels?.["updraft.dev/function"] === fn &&
            pod.metadata?.labels?.["updraft.dev/pool"] === undefined &&
            owner?.kind === "ReplicaSet" &&
            owner.name.startsWith(`fn-${fn}-`)
          );
        },
        60_000,
      );
      await waitFor(
        `a new ${runtime} pool pod ready`,
        async () => {
          const pods = await readyPoolPods(ns, runtime);
          return pods.length === 1 && pods[0] !== host;
        },
        120_000,
      );
      // The ReplicaSet counts the adopted pod: any pod it had started meanwhile is removed.
      await waitFor(
        `${fn} runs on exactly the adopted pod`,
        async () => {
          const pods = await core.listNamespacedPod({
            namespace: ns,
            labelSelector: `updraft.dev/function=${fn}`,
          });
          const live = pods.items.filter((p) => !p.metadata?.deletionTimestamp).map((p) => p.metadata!.name);
          return live.length === 1 && live[0] === host;
        },
        60_000,
      );
      const pod = await core.readNamespacedPod({ name: host, namespace: ns });
      const c = pod.spec!.containers[0]!;
      assert.equal(c.resources?.limits?.memory, "256Mi", "a 128 MB function's limit, as a plain pod's");
      assert.equal(c.securityContext?.readOnlyRootFilesystem, true);
      assert.equal(pod.spec!.automountServiceAccountToken, false);
      const again = await invoke(fn, { n: 3 });
      assert.equal(again.status, 200, again.body);
      assert.equal(again.json.host, host, "later calls go to the same, adopted instance");
    });
  }

  it("a function of another memory size does not take a pool instance: a plain pod starts", async () => {
    const before = await readyPoolPods(ns, "nodejs24");
    const r = await invoke("node-big", { n: 1 });
    assert.equal(r.status, 200, r.body);
    assert.match(String(r.json.host), /^fn-node-big-/);
    assert.deepEqual(await readyPoolPods(ns, "nodejs24"), before, "the pool was not touched");
  });
});
