/**
 * Autoscaling under a step, a ramp and a spike — open-loop load of a Python function that
 * sleeps D seconds — and a closed loop (clients that each wait for their answer before
 * calling again) (perInstance 1, targetUtilization 0.7), sampled every
 * 250 ms: the load the bench keeps in flight, the instances the autoscaler wants
 * (Deployment spec.replicas) and the ready ones. For each scenario it prints the time to
 * converge and the overshoot, and writes a PNG (bench/out/scaling-<scenario>.png).
 *
 * The baseline, from the same run: the ideal instance count ceil(R·D / (perInstance ·
 * target)) at each moment, against which it reports ready instance-seconds (the cost)
 * and the requests' median latency against D (what waiting for capacity added).
 *
 *   node bench/scaling.ts [step|ramp|spike|closed ...]
 */
import { mkdirSync, writeFileSync } from "node:fs";
import { resolve } from "node:path";
import {
  applyYaml,
  apps,
  deleteNamespace,
  installFullUpdraft,
  invokeAuth,
  newNamespace,
  waitFor,
} from "../test/integration/harness.ts";
import { writeChartPng } from "./chart.ts";
import { percentile } from "./load.ts";

const D = 1; // seconds each request sleeps
const TARGET = 0.7;
const OUT = resolve(import.meta.dirname, "out");

/** The load over time: requests per second at t (s), and one-off bursts. */
interface Scenario {
  name: string;
  seconds: number;
  rate: (t: number) => number;
  bursts: Array<{ at: number; count: number }>;
  /** Closed loop: this many clients from 5 s on, each calling again when answered. */
  clients?: number;
  /** Seconds each request sleeps (default D). */
  d?: number;
}

const SCENARIOS: Record<string, Scenario> = {
  // 0 → 4 requests/s at once: R·D = 4 → ceil(4 / 0.7) = 6 instances.
  step: { name: "step", seconds: 45, rate: (t) => (t < 5 ? 0 : 4), bursts: [] },
  // 0 → 6 requests/s over 30 s, then held: ends at ceil(6 / 0.7) = 9 instances.
  ramp: { name: "ramp", seconds: 50, rate: (t) => (t < 5 ? 0 : Math.min(6, ((t - 5) / 30) * 6)), bursts: [] },
  // 1 request/s (2 instances), and 15 requests at once at 20 s: panic.
  spike: { name: "spike", seconds: 50, rate: () => 1, bursts: [{ at: 20, count: 15 }] },
  // 10 clients in a closed loop on a 0.5 s function: 10 in flight → ceil(10 / 0.7) = 15.
  closed: { name: "closed", seconds: 45, rate: () => 0, bursts: [], clients: 10, d: 0.5 },
};

interface Sample {
  t: number;
  load: number;
  ideal: number;
  desired: number;
  ready: number;
}

/** The instances the load at t needs: ceil(R·D / target), or ceil(clients / target) in a loop. */
function ideal(sc: Scenario, t: number): number {
  if (t > sc.seconds) return 0;
  if (sc.clients) return t < 5 ? 0 : Math.ceil(sc.clients / TARGET - 1e-9);
  return Math.ceil((sc.rate(t) * (sc.d ?? D)) / TARGET - 1e-9);
}

async function run(base: string, ns: string, sc: Scenario) {
  const name = `load-${sc.name}`;
  applyYaml(
    ns,
    `apiVersion: updraft.dev/v1alpha1
kind: Function
metadata: {name: ${name}}
spec:
  runtime: python3.11
  handler: index.main_handler
  timeoutSeconds: 30
  scaling: {scaleToZeroAfterSeconds: 15, targetUtilization: ${TARGET}}
  code:
    inline:
      index.py: |
        import time
        def main_handler(event, context):
            time.sleep(event.get("sleep", 0))
            return "slept"
`,
  );
  const dep = `fn-${name}`;
  const scale = async () => {
    const d = await apps.readNamespacedDeployment({ name: dep, namespace: ns });
    return { desired: d.spec?.replicas ?? 0, ready: d.status?.readyReplicas ?? 0 };
  };
  await waitFor(`${name} at zero`, async () => (await scale()).desired === 0, 120_000);

  const url = `${base}/v1/namespaces/${ns}/functions/${name}/invocations`;
  const latencies: number[] = [];
  let errors = 0;
  let inFlight = 0;
  const pending: Array<Promise<void>> = [];
  const sleep = sc.d ?? D;
  const send = () => {
    inFlight++;
    const t0 = performance.now();
    const p = fetch(url, { method: "POST", headers: invokeAuth(), body: JSON.stringify({ sleep }) })
      .then(async (r) => {
        await r.arrayBuffer();
        if (r.status === 200) latencies.push(performance.now() - t0);
        else errors++;
      })
      .catch(() => {
        errors++;
      })
      .finally(() => {
        inFlight--;
      });
    pending.push(p);
    return p;
  };

  const samples: Sample[] = [];
  const start = performance.now();
  const elapsed = () => (performance.now() - start) / 1000;
  // Open loop: the next arrival is due when ∫ rate dt passes the next whole request.
  let due = 0;
  let sent = 0;
  const bursts = [...sc.bursts];
  const loadTimer = setInterval(() => {
    const t = elapsed();
    if (t > sc.seconds) return;
    due += sc.rate(t) * 0.01;
    while (sent < Math.floor(due)) {
      send();
      sent++;
    }
    while (bursts.length > 0 && bursts[0]!.at <= t) {
      for (let k = 0; k < bursts[0]!.count; k++) send();
      bursts.shift();
    }
  }, 10);
  // Closed loop: each client calls again as soon as it has its answer.
  if (sc.clients)
    for (let c = 0; c < sc.clients; c++)
      void (async () => {
        while (elapsed() < 5) await new Promise((r) => setTimeout(r, 10));
        while (elapsed() <= sc.seconds) await send();
      })();
  // Sample until the load is over and the function is back at zero.
  for (;;) {
    const t = elapsed();
    const s = await scale();
    samples.push({ t, load: inFlight, ideal: ideal(sc, t), ...s });
    if (t > sc.seconds && s.desired === 0 && inFlight === 0) break;
    if (t > sc.seconds + 120) throw new Error(`${name} did not return to zero`);
    await new Promise((r) => setTimeout(r, 250));
  }
  clearInterval(loadTimer);
  await Promise.all(pending);

  // Convergence: after the last change of the ideal count during the load, the first
  // moment ready instances reach it. Overshoot: the most instances wanted above it.
  const loaded = samples.filter((s) => s.t <= sc.seconds);
  const finalIdeal = loaded.at(-1)!.ideal;
  let lastChange = 0;
  for (let k = 1; k < loaded.length; k++)
    if (loaded[k]!.ideal !== loaded[k - 1]!.ideal) lastChange = loaded[k]!.t;
  const reached = loaded.find((s) => s.t >= lastChange && s.ready >= finalIdeal);
  const burstAt = sc.bursts[0]?.at;
  const idealSeconds = loaded.reduce((sum, s) => sum + s.ideal * 0.25, 0);
  const readySeconds = loaded.reduce((sum, s) => sum + s.ready * 0.25, 0);
  const result = {
    scenario: sc.name,
    requests: latencies.length + errors,
    errors,
    finalIdeal,
    convergeSeconds: reached ? Number((reached.t - lastChange).toFixed(1)) : null,
    maxDesired: Math.max(...loaded.map((s) => s.desired)),
    overshoot: Math.max(...loaded.filter((s) => s.t >= lastChange).map((s) => s.desired)) - finalIdeal,
    ...(burstAt !== undefined
      ? {
          firstScaleUpAfterBurstSeconds: (() => {
            const before = loaded.filter((s) => s.t < burstAt).at(-1)?.desired ?? 0;
            const up = loaded.find((s) => s.t >= burstAt && s.desired > before);
            return up ? Number((up.t - burstAt).toFixed(2)) : null;
          })(),
        }
      : {}),
    readyInstanceSecondsVsIdeal: Number((readySeconds / idealSeconds).toFixed(2)),
    latencyP50VsD: Number((percentile(latencies, 0.5) / (sleep * 1000)).toFixed(2)),
    latencyP99VsD: Number((percentile(latencies, 0.99) / (sleep * 1000)).toFixed(2)),
  };
  mkdirSync(OUT, { recursive: true });
  writeChartPng(resolve(OUT, `scaling-${sc.name}.png`), {
    title: `Updraft autoscaler: ${sc.name} (D = ${sleep} s, perInstance 1, target ${TARGET})`,
    xLabel: "time (s)",
    yLabel: "requests / instances",
    series: [
      { name: "requests in flight", color: [150, 150, 150], points: samples.map((s) => [s.t, s.load]) },
      { name: "ideal", color: [40, 160, 40], step: true, points: samples.map((s) => [s.t, s.ideal]) },
      { name: "desired", color: [30, 90, 220], step: true, points: samples.map((s) => [s.t, s.desired]) },
      { name: "ready", color: [220, 50, 40], step: true, points: samples.map((s) => [s.t, s.ready]) },
    ],
  });
  writeFileSync(resolve(OUT, `scaling-${sc.name}.json`), JSON.stringify({ result, samples }, null, 1));
  return result;
}

async function main(): Promise<void> {
  const names = process.argv.slice(2).length > 0 ? process.argv.slice(2) : Object.keys(SCENARIOS);
  // Restarted: the components run the working tree as it is now.
  const base = await installFullUpdraft();
  const ns = await newNamespace("bench-scaling");
  const results = [];
  try {
    for (const n of names) {
      const sc = SCENARIOS[n];
      if (!sc) throw new Error(`unknown scenario ${n}; have ${Object.keys(SCENARIOS).join(", ")}`);
      const r = await run(base, ns, sc);
      console.error(JSON.stringify(r));
      results.push(r);
    }
  } finally {
    await deleteNamespace(ns);
  }
  console.log(JSON.stringify({ D, target: TARGET, results, charts: OUT }, null, 2));
}

main().then(
  () => process.exit(0),
  (err: unknown) => {
    console.error(err);
    process.exit(1);
  },
);
