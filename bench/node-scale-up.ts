/**
 * Node bench (kubelet on containerd): time from `kubectl scale --replicas=1` to the pod
 * Ready and listed as ready in its EndpointSlice, median and p90 of N runs. Baseline, same
 * run: the same server started as a bare process on the host until it answers, so the
 * ratio is what the whole Kubernetes path (API, controllers, scheduler, kubelet,
 * containerd's sandbox and CNI, probe, EndpointSlice) adds on top of starting the process.
 *
 *   make bench-node            (or: node bench/node-scale-up.ts [runs])
 */
import { spawn } from "node:child_process";
import {
  applyYaml,
  core,
  deleteNamespace,
  kubectlOk,
  localImageTag,
  newNamespace,
  RUNTIME_IMAGE_PREFIX,
  waitFor,
} from "../test/integration/harness.ts";
import { freePort } from "../test/support/ports.ts";

const runs = Number(process.argv[2] ?? 20);

function stats(xs: number[]): { median: number; p90: number; min: number; max: number } {
  const s = [...xs].sort((a, b) => a - b);
  const at = (q: number) => s[Math.min(s.length - 1, Math.ceil(q * s.length) - 1)]!;
  return {
    median: Math.round(at(0.5)),
    p90: Math.round(at(0.9)),
    min: Math.round(s[0]!),
    max: Math.round(s.at(-1)!),
  };
}

async function bareStartMs(): Promise<number> {
  const port = await freePort();
  const t0 = performance.now();
  const p = spawn("python3", ["-m", "http.server", String(port), "--bind", "127.0.0.1"], { stdio: "ignore" });
  await waitFor(
    "bare server answers",
    async () => (await fetch(`http://127.0.0.1:${port}/`, { signal: AbortSignal.timeout(500) })).ok,
    10_000,
    10,
  );
  const ms = performance.now() - t0;
  p.kill("SIGKILL");
  return ms;
}

async function readyInSlice(ns: string): Promise<boolean> {
  const out = kubectlOk([
    "get",
    "endpointslices",
    "-n",
    ns,
    "-l",
    "kubernetes.io/service-name=web",
    "-o",
    "json",
  ]);
  const items = (
    JSON.parse(out) as { items: Array<{ endpoints?: Array<{ conditions?: { ready?: boolean } }> }> }
  ).items;
  return items.some((s) => (s.endpoints ?? []).some((e) => e.conditions?.ready));
}

async function main(): Promise<void> {
  const ns = await newNamespace("bench-node");
  applyYaml(
    ns,
    `apiVersion: apps/v1
kind: Deployment
metadata: {name: web}
spec:
  replicas: 0
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec:
      terminationGracePeriodSeconds: 1
      containers:
        - name: web
          image: ${RUNTIME_IMAGE_PREFIX}python3.11:${localImageTag()}
          command: [python3, -m, http.server, "8080"]
          readinessProbe: {httpGet: {path: /, port: 8080}, periodSeconds: 1}
---
apiVersion: v1
kind: Service
metadata: {name: web}
spec: {selector: {app: web}, ports: [{port: 80, targetPort: 8080}]}
`,
  );
  const k8s: number[] = [];
  const bare: number[] = [];
  for (let i = 0; i < runs; i++) {
    bare.push(await bareStartMs());
    const t0 = performance.now();
    kubectlOk(["scale", "deployment/web", "-n", ns, "--replicas=1"]);
    await waitFor("pod ready and in the EndpointSlice", () => readyInSlice(ns), 60_000, 20);
    k8s.push(performance.now() - t0);
    kubectlOk(["scale", "deployment/web", "-n", ns, "--replicas=0"]);
    await waitFor(
      "scaled to zero",
      async () =>
        (await core.listNamespacedPod({ namespace: ns })).items.length === 0 && !(await readyInSlice(ns)),
      60_000,
      50,
    );
  }
  await deleteNamespace(ns);
  const k = stats(k8s);
  const b = stats(bare);
  console.log(
    JSON.stringify(
      {
        runs,
        scaleToReadyInEndpointSliceMs: k,
        bareProcessStartMs: b,
        medianRatio: Number((k.median / b.median).toFixed(1)),
        addedMedianMs: k.median - b.median,
      },
      null,
      2,
    ),
  );
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
