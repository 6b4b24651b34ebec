import {
  applyYaml,
  core,
  deleteNamespace,
  installFullUpdraft,
  instanceKeyOf,
  invokeAuth,
  newNamespace,
  waitFor,
} from "../test/integration/harness.ts";
import { closedLoop } from "./load.ts";

// node bench/activator-clients.ts [seconds] [clients,...] [--set chart.value=v ...]
// e.g. --set logs.retentionSeconds=0: the same bench without kept invocation logs.
const seconds = Number(process.argv[2] ?? 10);
const series = (process.argv[3] ?? "1,10,50").split(",").map(Number);
const chartValues: Record<string, string | number> = {};
for (let i = 4; i < process.argv.length; i++) {
  const m = process.argv[i] === "--set" ? /^([^=]+)=(.*)$/.exec(process.argv[++i] ?? "") : null;
  if (!m) throw new Error(`unexpected argument ${process.argv[i]}: --set chart.value=v`);
  chartValues[m[1] as string] = /^\d+$/.test(m[2] as string) ? Number(m[2]) : (m[2] as string);
}

async function main(): Promise<void> {
  const base = await installFullUpdraft(chartValues);
  const ns = await newNamespace("bench-activator");
  const most = Math.max(...series);
  // One instance with room for the largest series; the autoscaler may add more, which
  // direct-to-pod cannot use, so maxInstances pins it to one for a fair comparison.
  applyYaml(
    ns,
    `apiVersion: updraft.dev/v1alpha1
kind: Function
metadata: {name: echo}
spec:
  runtime: nodejs24
  handler: index.main_handler
  memoryMB: 1024
  concurrency: {perInstance: ${most}}
  scaling: {minInstances: 1, maxInstances: 1}
  code: {inline: {index.js: "exports.main_handler = async (e) => e;"}}
`,
  );
  const pod = await waitFor(
    "instance ready",
    async () =>
      (
        await core.listNamespacedPod({ namespace: ns, labelSelector: "updraft.dev/function=echo" })
      ).items.find((p) => p.status?.conditions?.some((c) => c.type === "Ready" && c.status === "True")),
    120_000,
  );
  const via = `${base}/v1/namespaces/${ns}/functions/echo/invocations`;
  const direct = `http://${pod.status!.podIP}:8080/invoke`;
  // Straight to the pod, as the activators call it: with the function's instance key.
  const key = await instanceKeyOf(ns, "echo");
  await closedLoop(via, most, 3, invokeAuth()); // warm-up
  const rows = [];
  for (const clients of series) {
    const d = await closedLoop(direct, clients, seconds, { "x-updraft-request-id": "bench", ...key });
    // A baseline that failed measures nothing: stop rather than print a ratio of errors.
    if (d.errors > 0) throw new Error(`the direct baseline had ${d.errors} errors`);
    const a = await closedLoop(via, clients, seconds, invokeAuth());
    rows.push({
      clients,
      direct: d,
      activator: a,
      throughputRatio: Number((a.rps / d.rps).toFixed(2)),
      addedP50Ms: Number((a.p50 - d.p50).toFixed(2)),
      addedP99Ms: Number((a.p99 - d.p99).toFixed(2)),
    });
  }
  await deleteNamespace(ns);
  console.log(JSON.stringify({ seconds, rows }, null, 2));
}

main().then(
  () => process.exit(0),
  (err: unknown) => {
    console.error(err);
    process.exit(1);
  },
);
