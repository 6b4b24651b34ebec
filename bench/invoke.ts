/**
 * Invocation benches, one command, ratios from the same run:
 *  1. warm: C concurrent clients for D seconds through the activator, and the same load
 *     straight at the pod's /invoke (the baseline): throughput ratio, added p50 and p99;
 *  2. cold: N times, a function at zero invoked once, at a random moment (0–1 s after its
 *     last pod went, so the runs do not keep step with the kubelet's 1 s container relist);
 *     time to the answer, split into scale decision + scheduling (request → pod bound),
 *     init (the shim's Init Report) and the rest (sandbox, container and shim start, the
 *     instance's announcement, forwarding). Beside it, from the same runs: when the kubelet
 *     reported the pod's address and its container running — what a request waited for
 *     before instances announced themselves (plus the EndpointSlice behind it).
 *
 *   make bench-invoke        (or: node bench/invoke.ts [clients] [seconds] [coldRuns])
 */
import { type V1Pod, Watch } from "@kubernetes/client-node";
import {
  applyYaml,
  apps,
  core,
  deleteNamespace,
  installFullUpdraft,
  instanceKeyOf,
  invokeAuth,
  kc,
  newNamespace,
  waitFor,
} from "../test/integration/harness.ts";
import { closedLoop, percentile } from "./load.ts";

const clients = Number(process.argv[2] ?? 10);
const seconds = Number(process.argv[3] ?? 10);
const coldRuns = Number(process.argv[4] ?? 20);

async function main(): Promise<void> {
  const base = await installFullUpdraft();
  const ns = await newNamespace("bench-invoke");
  applyYaml(
    ns,
    `apiVersion: updraft.dev/v1alpha1
kind: Function
metadata: {name: warm}
spec:
  runtime: nodejs24
  handler: index.main_handler
  memoryMB: 1024
  concurrency: {perInstance: ${clients}}
  scaling: {minInstances: 1}
  code: {inline: {index.js: "exports.main_handler = async (e) => e;"}}
---
apiVersion: updraft.dev/v1alpha1
kind: Function
metadata: {name: cold}
spec:
  runtime: nodejs24
  handler: index.main_handler
  scaling: {scaleToZeroAfterSeconds: 2}
  code: {inline: {index.js: "exports.main_handler = async (e) => e;"}}
`,
  );
  const readyPod = await waitFor(
    "warm instance ready",
    async () => {
      const pods = (
        await core.listNamespacedPod({ namespace: ns, labelSelector: "updraft.dev/function=warm" })
      ).items;
      return pods.find((p) => p.status?.conditions?.some((c) => c.type === "Ready" && c.status === "True"));
    },
    120_000,
  );
  const via = `${base}/v1/namespaces/${ns}/functions/warm/invocations`;
  const direct = `http://${readyPod.status!.podIP}:8080/invoke`;
  // Straight to the pod, as the activators call it: with the function's instance key.
  const key = await instanceKeyOf(ns, "warm");
  await closedLoop(via, clients, seconds, invokeAuth()); // warm both paths' connections and the worker
  const d = await closedLoop(direct, clients, seconds, { "x-updraft-request-id": "bench", ...key });
  // A baseline that failed measures nothing: stop rather than print a ratio of errors.
  if (d.errors > 0) throw new Error(`the direct baseline had ${d.errors} errors`);
  const a = await closedLoop(via, clients, seconds, invokeAuth());
  const warm = {
    clients,
    seconds,
    direct: d,
    activator: a,
    throughputRatio: Number((a.rps / d.rps).toFixed(2)),
    addedP50Ms: Number((a.p50 - d.p50).toFixed(2)),
    addedP99Ms: Number((a.p99 - d.p99).toFixed(2)),
  };

  // Cold starts, observed through a pod watch with this process's clock.
  const seen = new Map<
    string,
    { created?: number; bound?: number; addressed?: number; running?: number; ready?: number }
  >();
  const watch = await new Watch(kc).watch(
    `/api/v1/namespaces/${ns}/pods`,
    { labelSelector: "updraft.dev/function=cold" },
    (_type: string, pod: V1Pod) => {
      const now = performance.now();
      const s = seen.get(pod.metadata!.uid!) ?? { created: now };
      if (pod.spec?.nodeName && s.bound === undefined) s.bound = now;
      if (pod.status?.podIP && s.addressed === undefined) s.addressed = now;
      if (pod.status?.containerStatuses?.[0]?.state?.running && s.running === undefined) s.running = now;
      if (
        pod.status?.conditions?.some((c) => c.type === "Ready" && c.status === "True") &&
        s.ready === undefined
      )
        s.ready = now;
      seen.set(pod.metadata!.uid!, s);
    },
    () => undefined,
  );
  const runs: Array<{
    total: number;
    schedule: number;
    init: number;
    rest: number;
    kubeletReport: number;
  }> = [];
  for (let i = 0; i < coldRuns; i++) {
    await waitFor(
      "cold at zero with no pods",
      async () => {
        const dep = await apps.readNamespacedDeployment({ name: "fn-cold", namespace: ns });
        const pods = await core.listNamespacedPod({
          namespace: ns,
          labelSelector: "updraft.dev/function=cold",
        });
        return dep.spec?.replicas === 0 && pods.items.length === 0;
      },
      60_000,
      50,
    );
    // A random moment, as real arrivals are: the last pod's end was seen through the
    // kubelet's relist, and a request right after it would keep step with the next one.
    await new Promise((r) => setTimeout(r, Math.random() * 1000));
    seen.clear();
    const t0 = performance.now();
    const r = await fetch(`${base}/v1/namespaces/${ns}/functions/cold/invocations`, {
      method: "POST",
      headers: invokeAuth(),
      body: "{}",
    });
    await r.arrayBuffer();
    const total = performance.now() - t0;
    const s = [...seen.values()][0] ?? {};
    const init = Number(r.headers.get("x-updraft-init-duration-ms") ?? 0);
    const schedule = (s.bound ?? t0) - t0;
    // The kubelet's report (address and container running) may come after the answer: wait for it.
    const reported = await waitFor(
      "the kubelet's report of the pod",
      async () => {
        const x = [...seen.values()][0];
        return x?.addressed !== undefined && x.running !== undefined ? x : undefined;
      },
      30_000,
      10,
    );
    runs.push({
      total,
      schedule,
      init,
      rest: Math.max(0, total - schedule - init),
      kubeletReport: Math.max(reported.addressed!, reported.running!) - t0,
    });
    // The autoscaler owns replicas: it puts the function back to zero 2 s after the call.
  }
  watch.abort();
  const med = (k: keyof (typeof runs)[number]) =>
    Math.round(
      percentile(
        runs.map((x) => x[k]),
        0.5,
      ),
    );
  const p90 = (k: keyof (typeof runs)[number]) =>
    Math.round(
      percentile(
        runs.map((x) => x[k]),
        0.9,
      ),
    );
  const cold = {
    runs: coldRuns,
    totalMs: { median: med("total"), p90: p90("total") },
    medianSplitMs: {
      decisionAndScheduling: med("schedule"),
      init: med("init"),
      startAnnounceAndForward: med("rest"),
    },
    // When the kubelet reported the pod addressed and running, from the request: without the
    // announcement, the answer came after this (and the EndpointSlice update behind it).
    kubeletReportMs: { median: med("kubeletReport"), p90: p90("kubeletReport") },
  };
  await deleteNamespace(ns);
  console.log(JSON.stringify({ warm, cold }, null, 2));
}

main().then(
  () => process.exit(0),
  (err: unknown) => {
    console.error(err);
    process.exit(1);
  },
);
