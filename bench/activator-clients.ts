import { spawn } from "node:child_process";
import { once } from "node:events";
import { readFileSync } from "node:fs";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";
import {
  applyYaml,
  core,
  deleteNamespace,
  installFullUpdraft,
  instanceKeyOf,
  invokeAuth,
  localImageTag,
  newNamespace,
  RUNTIME_IMAGE_PREFIX,
  waitFor,
} from "../test/integration/harness.ts";
import { type CpuGroups, cpuSpent, sampleCpu } from "./cpu.ts";
import { closedLoop, type LoadResult } from "./load.ts";

// node bench/activator-clients.ts [seconds] [clients,...] [--floor] [--set chart.value=v ...]
// e.g. --set logs.retentionSeconds=0: the same bench without kept invocation logs.
// --floor also measures, in the same run, the least a Node.js hop can cost here: a TCP byte
// pipe and a bare node:http pass-through (bench/hop-floor.ts) on the host, and the same
// pass-through in a pod behind a Service, as the activator is reached.
// Each row also says the machine's CPU per request on each path and who spent it (cpu.ts):
// on 2 saturated cores, throughput is what that cost leaves.
const seconds = Number(process.argv[2] ?? 10);
const series = (process.argv[3] ?? "1,10,50").split(",").map(Number);
const chartValues: Record<string, string | number> = {};
let floor = false;
for (let i = 4; i < process.argv.length; i++) {
  if (process.argv[i] === "--floor") {
    floor = true;
    continue;
  }
  const m = process.argv[i] === "--set" ? /^([^=]+)=(.*)$/.exec(process.argv[++i] ?? "") : null;
  if (!m) throw new Error(`unexpected argument ${process.argv[i]}: --set chart.value=v`);
  chartValues[m[1] as string] = /^\d+$/.test(m[2] as string) ? Number(m[2]) : (m[2] as string);
}

/** Who spends the CPU of a call, by command line; the first match counts. */
const GROUPS: CpuGroups = [
  ["bench", (c) => c.includes("bench/activator-clients.ts")],
  ["floorHop", (c) => c.includes("bench/hop-floor.ts")],
  ["activator", (c) => c.includes("cmd/activator/main.ts")],
  ["floorHopInPod", (c) => c.includes("/floor/hop-floor.ts")],
  ["instances", (c) => c.includes("cmd/runtime/main.ts") || c.includes("/runtimes/")],
  ["nats", (c) => c.includes("/etc/nats/")],
  ["networkPolicy", (c) => c.includes("--nfqueue-id") || c.includes("kube-router")],
  ["kubernetes", (c) => /kube-|etcd|kubelet|containerd|coredns|Corefile/.test(c)],
  ["kernelThreads", (c) => c.startsWith("[")],
];

/** A closed loop, and the machine's CPU per request it cost (µs), by group. */
async function measured(
  url: string,
  clients: number,
  headers: Record<string, string>,
): Promise<LoadResult & { cpuUsPerRequest: Record<string, number> }> {
  const before = sampleCpu();
  const r = await closedLoop(url, clients, seconds, headers);
  const spent = cpuSpent(before, sampleCpu(), GROUPS);
  const cpuUsPerRequest: Record<string, number> = {};
  if (r.requests === 0) throw new Error(`no request to ${url} was answered in ${seconds} s`);
  for (const [k, ms] of Object.entries(spent)) cpuUsPerRequest[k] = Math.round((ms * 1000) / r.requests);
  return { ...r, cpuUsPerRequest };
}

/**
 * bench/hop-floor.ts's node:http pass-through in a pod of `ns` (the Node.js runtime image,
 * the script from a ConfigMap) behind a Service, let through the namespace's instances
 * NetworkPolicy by a policy of its own; returns its URL once it is ready.
 */
async function floorInPod(ns: string, target: string): Promise<string> {
  const script = readFileSync(fileURLToPath(new URL("hop-floor.ts", import.meta.url)), "utf8");
  await core.createNamespacedConfigMap({
    namespace: ns,
    body: { metadata: { name: "hop-floor" }, data: { "hop-floor.ts": script } },
  });
  applyYaml(
    ns,
    `apiVersion: apps/v1
kind: Deployment
metadata: {name: hop-floor}
spec:
  replicas: 1
  selector: {matchLabels: {app: hop-floor}}
  template:
    metadata: {labels: {app: hop-floor}}
    spec:
      automountServiceAccountToken: false
      containers:
        - name: hop
          image: ${RUNTIME_IMAGE_PREFIX}nodejs24:${localImageTag()}
          command: [node, /floor/hop-floor.ts, http, "${target}", "0.0.0.0:8080"]
          readinessProbe: {tcpSocket: {port: 8080}, periodSeconds: 1}
          volumeMounts: [{name: floor, mountPath: /floor}]
      volumes: [{name: floor, configMap: {name: hop-floor}}]
---
apiVersion: v1
kind: Service
metadata: {name: hop-floor}
spec: {selector: {app: hop-floor}, ports: [{port: 80, targetPort: 8080}]}
---
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: bench-hop-floor}
spec:
  podSelector: {matchLabels: {updraft.dev/function: echo}}
  policyTypes: [Ingress]
  ingress: [{from: [{podSelector: {matchLabels: {app: hop-floor}}}]}]
`,
  );
  await waitFor(
    "hop-floor pod ready",
    async () =>
      (await core.listNamespacedPod({ namespace: ns, labelSelector: "app=hop-floor" })).items.some((p) =>
        p.status?.conditions?.some((c) => c.type === "Ready" && c.status === "True"),
      ),
    120_000,
  );
  const svc = await core.readNamespacedService({ namespace: ns, name: "hop-floor" });
  return `http://${svc.spec!.clusterIP}/invoke`;
}

/** Starts bench/hop-floor.ts in `mode` towards `target` and returns its URL and a stop. */
async function startFloor(mode: "http" | "tcp", target: string): Promise<{ url: string; stop: () => void }> {
  const child = spawn(
    process.execPath,
    [fileURLToPath(new URL("hop-floor.ts", import.meta.url)), mode, target],
    {
      stdio: ["ignore", "pipe", "inherit"],
    },
  );
  const [line] = (await once(createInterface({ input: child.stdout! }), "line")) as [string];
  const port = /^listening (\d+)$/.exec(line)?.[1];
  if (!port) throw new Error(`hop-floor.ts said ${JSON.stringify(line)}`);
  return { url: `http://127.0.0.1:${port}/invoke`, stop: () => child.kill("SIGTERM") };
}

const ratioOf = (path: LoadResult, direct: LoadResult) => ({
  throughputRatio: Number((path.rps / direct.rps).toFixed(2)),
  addedP50Ms: Number((path.p50 - direct.p50).toFixed(2)),
  addedP99Ms: Number((path.p99 - direct.p99).toFixed(2)),
});

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
  const directHeaders = { "x-updraft-request-id": "bench", ...key };
  const floors = floor
    ? [
        await startFloor("tcp", `${pod.status!.podIP}:8080`),
        await startFloor("http", `${pod.status!.podIP}:8080`),
      ]
    : [];
  const floorPodUrl = floor ? await floorInPod(ns, `${pod.status!.podIP}:8080`) : undefined;
  const rows = [];
  for (const clients of series) {
    const d = await measured(direct, clients, directHeaders);
    // A baseline that failed measures nothing: stop rather than print a ratio of errors.
    if (d.errors > 0) throw new Error(`the direct baseline had ${d.errors} errors`);
    const floorRows: Record<string, unknown> = {};
    for (const [name, url] of [
      ["tcpPipe", floors[0]?.url],
      ["nodeHttpPassThrough", floors[1]?.url],
      ["nodeHttpPassThroughInPod", floorPodUrl],
    ] as const) {
      if (!url) continue;
      const r = await measured(url, clients, directHeaders);
      if (r.errors > 0) throw new Error(`the ${name} floor had ${r.errors} errors`);
      floorRows[name] = { ...r, ...ratioOf(r, d) };
    }
    const a = await measured(via, clients, invokeAuth());
    rows.push({
      clients,
      direct: d,
      ...(floor ? { floor: floorRows } : {}),
      activator: a,
      ...ratioOf(a, d),
      // What the activator's path adds per request, machine-wide and by group (µs).
      addedCpuUsPerRequest: Object.fromEntries(
        Object.keys(a.cpuUsPerRequest).map((k) => [k, a.cpuUsPerRequest[k]! - (d.cpuUsPerRequest[k] ?? 0)]),
      ),
    });
  }
  for (const f of floors) f.stop();
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
