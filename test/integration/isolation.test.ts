/**
 * Tenants' functions kept apart (docs/security.md). Network: only the activators reach a
 * function's pods — a pod of another namespace finds its shim's port (8080) and a Web
 * function's own port (9000) closed, and NATS and the autoscaler's API too, while the
 * activator answers it (the chart's and the controller's NetworkPolicies, enforced on the
 * local cluster by kube-router's firewall). Resources: one tenant's function cannot starve
 * another's: a fork bomb in one namespace stops at its pod's process limit — the kubelet's
 * podPidsLimit, 1,024 on the local cluster, counted per pod by the pids cgroup — and a
 * function in another namespace keeps answering as fast as it did before the bomb,
 * measured in the same run.
 */
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import {
  applyYaml,
  core,
  deleteNamespace,
  installFullUpdraft,
  invokeFunction,
  kubectlOk,
  localImageTag,
  newNamespace,
  nodeFunction,
  RUNTIME_IMAGE_PREFIX,
  SYSTEM_NAMESPACE,
  waitFor,
} from "./harness.ts";

let base = "";
let bombNs = "";
let neighbourNs = "";
let proberNs = "";

// A Web function: its own server on 0.0.0.0:9000 beside the shim's 8080.
const webFunction = `apiVersion: updraft.dev/v1alpha1
kind: Function
metadata: {name: site}
spec:
  runtime: nodejs24
  type: Web
  scaling: {minInstances: 1}
  code:
    inline:
      scf_bootstrap: |
        #!/bin/sh
        exec node -e 'require("node:http").createServer((q, s) => s.end("site")).listen(9000, "0.0.0.0")'
`;

/**
 * Runs a pod in `namespace` that tries a TCP connection to each target (3 s each) and
 * returns what it found: "open" or "closed".
 */
async function probeFrom(
  namespace: string,
  targets: Record<string, [string, number]>,
): Promise<Record<string, string>> {
  const script = `import json, socket, sys
found = {}
for name, (host, port) in json.loads(sys.argv[1]).items():
    try:
        socket.create_connection((host, port), timeout=3).close()
        found[name] = "open"
    except OSError:
        found[name] = "closed"
print(json.dumps(found))`;
  await core.createNamespacedPod({
    namespace,
    body: {
      metadata: { name: "prober" },
      spec: {
        restartPolicy: "Never",
        containers: [
          {
            name: "prober",
            image: `${RUNTIME_IMAGE_PREFIX}python3.11:${localImageTag()}`,
            command: ["python3", "-c", script, JSON.stringify(targets)],
            securityContext: {
              runAsNonRoot: true,
              runAsUser: 10001,
              allowPrivilegeEscalation: false,
              capabilities: { drop: ["ALL"] },
              seccompProfile: { type: "RuntimeDefault" },
            },
          },
        ],
      },
    },
  });
  await waitFor(
    "the prober finished",
    async () => {
      const p = await core.readNamespacedPod({ name: "prober", namespace });
      return p.status?.phase === "Succeeded" || p.status?.phase === "Failed" ? p : undefined;
    },
    120_000,
    500,
  );
  const out = kubectlOk(["-n", namespace, "logs", "prober"]).trim();
  return JSON.parse(out.split("\n").at(-1)!) as Record<string, string>;
}

// Starts processes until the kernel says no (EAGAIN from the pids cgroup), holds them for
// `holdSeconds` so the pod sits at its limit, then kills and reaps them. Each is a small
// `sleep` (posix_spawn): forked copies of the interpreter would each count its memory, and
// the shim would stop the function for memory (434) before it reached its process limit.
// The loop stops at 5,000 on its own so that a missing limit fails the test instead of
// the machine.
const BOMB = `import errno, os, signal, time
def main_handler(event, context):
    if not event.get("fork", True):
        return {"forked": 0}
    children, refused = [], None
    while len(children) < 5000:
        try:
            children.append(os.posix_spawn("/bin/sleep", ["sleep", "120"], {}))
        except OSError as e:
            refused = errno.errorcode.get(e.errno, str(e.errno))
            break
    time.sleep(event.get("holdSeconds", 0))
    for pid in children:
        os.kill(pid, signal.SIGKILL)
    for pid in children:
        os.waitpid(pid, 0)
    return {"forked": len(children), "refused": refused}
`;

const bombFunction = `apiVersion: updraft.dev/v1alpha1
kind: Function
metadata: {name: bomb}
spec:
  runtime: python3.11
  handler: index.main_handler
  memoryMB: 1024
  timeoutSeconds: 120
  code:
    inline:
      index.py: |
${BOMB.split("\n")
  .map((l) => `        ${l}`)
  .join("\n")}
`;

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)]!;
};

/** Sequential calls to the neighbour until `until()` says stop (at least `min`): their latencies in ms. */
async function neighbourLatencies(min: number, until: () => boolean): Promise<number[]> {
  const ms: number[] = [];
  while (ms.length < min || !until()) {
    const t0 = performance.now();
    const r = await invokeFunction(base, neighbourNs, "neighbour", { n: ms.length });
    ms.push(performance.now() - t0);
    assert.equal(r.status, 200, r.body);
  }
  return ms;
}

/** A ready instance of a function in the neighbour's namespace, with its address, or none. */
async function readyInstance(fn: string) {
  const pods = await core.listNamespacedPod({
    namespace: neighbourNs,
    labelSelector: `updraft.dev/function=${fn}`,
  });
  return pods.items.find(
    (p) =>
      p.status?.podIP &&
      !p.metadata?.deletionTimestamp &&
      p.status.conditions?.some((c) => c.type === "Ready" && c.status === "True"),
  );
}

describe("isolation between tenants' functions", () => {
  before(async () => {
    base = await installFullUpdraft();
    bombNs = await newNamespace("bomb");
    neighbourNs = await newNamespace("neighbour");
    applyYaml(bombNs, bombFunction);
    applyYaml(neighbourNs, nodeFunction("neighbour", "exports.main_handler = async (e) => e;"));
    applyYaml(neighbourNs, webFunction);
    applyYaml(
      neighbourNs,
      `apiVersion: updraft.dev/v1alpha1
kind: Trigger
metadata: {name: site}
spec: {function: site, type: Http, http: {path: /site}}
`,
    );
    proberNs = await newNamespace("prober");
    // Both warm before anything is measured: a cold start is not what this compares.
    for (const [ns, fn] of [
      [bombNs, "bomb"],
      [neighbourNs, "neighbour"],
    ] as const) {
      await waitFor(
        `${ns}/${fn} answers`,
        async () => (await invokeFunction(base, ns, fn, fn === "bomb" ? { fork: false } : {})).status === 200,
        180_000,
        500,
      );
    }
  });
  after(async () => {
    await deleteNamespace(bombNs);
    await deleteNamespace(neighbourNs);
    await deleteNamespace(proberNs);
  });

  it("only the activators reach a function's pods: from another namespace its 8080 and 8081 and a Web function's 9000 are closed, and so are NATS and the autoscaler", async () => {
    const policy = kubectlOk(["-n", neighbourNs, "get", "networkpolicy", "updraft-instances", "-o", "name"]);
    assert.equal(policy.trim(), "networkpolicy.networking.k8s.io/updraft-instances");
    const site = await waitFor(
      "the Web function's instance, with its address",
      () => readyInstance("site"),
      180_000,
      500,
    );
    const clusterIP = async (name: string) =>
      (await core.readNamespacedService({ name, namespace: SYSTEM_NAMESPACE })).spec!.clusterIP!;
    const ip = site.status!.podIP!;
    // An Event function's instance: its shim listens on the instance channel's port. Called
    // first, so that it has one whatever the autoscaler did since it last answered.
    const neighbour = await waitFor(
      "the neighbour's instance, with its address",
      async () => {
        assert.equal((await invokeFunction(base, neighbourNs, "neighbour", {})).status, 200);
        return readyInstance("neighbour");
      },
      120_000,
      500,
    );
    const found = await probeFrom(proberNs, {
      shim: [ip, 8080],
      channel: [neighbour.status!.podIP!, 8081],
      web: [ip, 9000],
      nats: [await clusterIP("updraft-nats"), 4222],
      autoscaler: [await clusterIP("updraft-autoscaler"), 8080],
      // The control: the prober's network works — the activator, an edge, answers it.
      activator: [await clusterIP("updraft-activator"), 8080],
    });
    assert.deepEqual(found, {
      shim: "closed",
      channel: "closed",
      web: "closed",
      nats: "closed",
      autoscaler: "closed",
      activator: "open",
    });
    // Through the activator (let in) the Web function answers its Http trigger.
    const res = await waitFor(
      "the Web function's trigger served",
      async () => {
        const r = await fetch(`${base}/http/${neighbourNs}/site`);
        const body = await r.text();
        return r.status === 200 ? body : undefined;
      },
      60_000,
      300,
    );
    assert.equal(res, "site");
  });

  it("a fork bomb stops at the pod's process limit, and a neighbour in another namespace keeps its latency (within 2×)", async () => {
    const baseline = await neighbourLatencies(60, () => true);
    let bombDone = false;
    const bomb = invokeFunction(base, bombNs, "bomb", { holdSeconds: 5 }).finally(() => {
      bombDone = true;
    });
    const during = await neighbourLatencies(30, () => bombDone);
    const answer = await bomb;
    assert.equal(answer.status, 200, answer.body);
    const { forked, refused } = answer.json as { forked: number; refused: string | null };
    assert.equal(answer.functionError, null, answer.body);
    // The kernel refused a fork (EAGAIN) before 1,024 processes — the pod's whole limit,
    // which the runtime's own processes and threads share — and well before the loop's cap.
    assert.equal(refused, "EAGAIN", `the pids cgroup refused the fork (forked ${forked})`);
    assert.ok(forked < 1024 && forked > 500, `forked ${forked} children before the limit`);
    const before = median(baseline);
    const whileBombing = median(during);
    console.log(
      `neighbour p50: ${before.toFixed(1)} ms before, ${whileBombing.toFixed(1)} ms during the bomb (${during.length} calls); bomb forked ${forked}`,
    );
    assert.ok(
      whileBombing <= 2 * before,
      `neighbour p50 ${whileBombing.toFixed(1)} ms during the bomb, ${before.toFixed(1)} ms before`,
    );
    // The bombed instance is whole again once its children are gone: it serves the next call.
    const again = await invokeFunction(base, bombNs, "bomb", { fork: false });
    assert.equal(again.status, 200, again.body);
  });
});
