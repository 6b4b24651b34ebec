/**
 * Autoscaler bench: CPU and RSS of one autoscaler deciding for 500 active functions.
 *
 * The bench stands in for two activators: every second it posts each function's activity
 * (as the activators do) to an autoscaler process it runs as the autoscaler's
 * ServiceAccount, with the in-cluster autoscaler scaled to zero meanwhile. The node is
 * cordoned, so the instances the autoscaler asks for stay Pending: the bench measures the
 * autoscaler, not 500 Python processes on two cores.
 *
 * Baseline, same run and process: the same 500 functions idle (activators report zeros,
 * as they do for every function they know) for the same time. Reported: CPU seconds per
 * minute idle and active, their ratio, RSS, scale writes.
 *
 *   make bench-autoscaler     (or: node bench/autoscaler-500.ts [count] [seconds])
 */
import { spawn } from "node:child_process";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import {
  apps,
  controllerKubeconfig,
  custom,
  deleteNamespace,
  freePort,
  installFullUpdraft,
  kubectlOk,
  newNamespace,
  ROOT,
  SYSTEM_NAMESPACE,
  waitFor,
} from "../test/integration/harness.ts";

const count = Number(process.argv[2] ?? 500);
const seconds = Number(process.argv[3] ?? 60);
const NODE = "updraft-local";

function cpuSeconds(pid: number): number {
  const fields = readFileSync(`/proc/${pid}/stat`, "utf8").split(") ")[1]!.split(" ");
  return (Number(fields[11]) + Number(fields[12])) / 100; // utime + stime, USER_HZ = 100
}

function rssMiB(pid: number): number {
  return Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, "utf8"))?.[1] ?? 0) / 1024;
}

async function main(): Promise<void> {
  await installFullUpdraft();
  const ns = await newNamespace("bench-autoscaler");
  const names = Array.from({ length: count }, (_, i) => `f${i}`);
  for (let i = 0; i < names.length; i += 16) {
    await Promise.all(
      names.slice(i, i + 16).map((name) =>
        custom.createNamespacedCustomObject({
          group: "updraft.dev",
          version: "v1alpha1",
          plural: "functions",
          namespace: ns,
          body: {
            apiVersion: "updraft.dev/v1alpha1",
            kind: "Function",
            metadata: { name },
            spec: {
              runtime: "nodejs24",
              handler: "index.main_handler",
              scaling: { scaleToZeroAfterSeconds: 600 },
              code: { inline: { "index.js": "exports.main_handler = async () => 1" } },
            },
          },
        }),
      ),
    );
  }
  await waitFor(
    `${count} Deployments`,
    async () => (await apps.listNamespacedDeployment({ namespace: ns })).items.length === count,
    300_000,
    1000,
  );

  kubectlOk(["cordon", NODE]);
  kubectlOk(["-n", SYSTEM_NAMESPACE, "scale", "deployment/updraft-autoscaler", "--replicas=0"]);
  const port = await freePort();
  const metricsPort = await freePort();
  const proc = spawn(process.execPath, [join(ROOT, "src/cmd/autoscaler/main.ts")], {
    env: {
      PATH: process.env.PATH ?? "",
      KUBECONFIG: await controllerKubeconfig("updraft-autoscaler"),
      UPDRAFT_PORT: String(port),
      UPDRAFT_METRICS_PORT: String(metricsPort),
      UPDRAFT_LEASE_NAME: "bench-autoscaler",
      POD_NAME: "bench-autoscaler",
      LOG_LEVEL: process.env.BENCH_LOG_LEVEL ?? "warn",
    },
    stdio: ["ignore", "inherit", "inherit"],
  });
  const pid = proc.pid!;
  const metric = async (name: string) => {
    const text = await (await fetch(`http://127.0.0.1:${metricsPort}/metrics`)).text();
    return text
      .split("\n")
      .filter((l) => l.startsWith(name))
      .reduce((sum, l) => sum + Number(l.slice(l.lastIndexOf(" ") + 1)), 0);
  };
  try {
    await waitFor(
      "autoscaler healthy",
      async () => (await fetch(`http://127.0.0.1:${metricsPort}/healthz`).catch(() => undefined))?.ok,
    );
    // Reports as two activators would send them, each with half the traffic.
    let active = false;
    const report = async (activator: string) => {
      const items = names.map((name) => ({
        key: `${ns}/${name}`,
        ...(active
          ? { arrivals: 1, held: 0.25, busy: 0.25, durationMs: 250, heldNow: 1 }
          : { arrivals: 0, held: 0, busy: 0, durationMs: 0, heldNow: 0 }),
        periodMs: 1000,
        longRunning: { 6: 0, 60: 0 },
      }));
      await fetch(`http://127.0.0.1:${port}/v1/activity`, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({ activator, items }),
      }).catch(() => undefined);
    };
    const timer = setInterval(() => {
      void report("10.244.9.1");
      void report("10.244.9.2");
    }, 1000);

    const phase = async (label: string) => {
      const cpu0 = cpuSeconds(pid);
      const writes0 = await metric("updraft_autoscaler_scale_total");
      let rssPeak = 0;
      const end = Date.now() + seconds * 1000;
      while (Date.now() < end) {
        rssPeak = Math.max(rssPeak, rssMiB(pid));
        await new Promise((r) => setTimeout(r, 1000));
      }
      return {
        label,
        cpuSecondsPerMinute: Number((((cpuSeconds(pid) - cpu0) / seconds) * 60).toFixed(2)),
        rssPeakMiB: Math.round(rssPeak),
        scaleWrites: (await metric("updraft_autoscaler_scale_total")) - writes0,
      };
    };
    // Settle (informers synced, first decisions), then idle, then active.
    await new Promise((r) => setTimeout(r, 10_000));
    const idle = await phase("idle");
    active = true;
    // The first active seconds write every function's scale-up (0 → 1); count them apart.
    const rampWrites0 = await metric("updraft_autoscaler_scale_total");
    await waitFor(
      "every function scaled to 1",
      async () => (await metric("updraft_autoscaler_scale_total")) - rampWrites0 >= count,
      120_000,
      1000,
    );
    const busy = await phase("active");
    clearInterval(timer);
    console.log(
      JSON.stringify(
        {
          functions: count,
          seconds,
          idle,
          active: busy,
          cpuRatioActiveVsIdle: Number((busy.cpuSecondsPerMinute / idle.cpuSecondsPerMinute).toFixed(2)),
          cpuPercentOfOneCoreActive: Number(((busy.cpuSecondsPerMinute / 60) * 100).toFixed(1)),
        },
        null,
        2,
      ),
    );
  } finally {
    proc.kill("SIGTERM");
    kubectlOk(["-n", SYSTEM_NAMESPACE, "scale", "deployment/updraft-autoscaler", "--replicas=1"]);
    kubectlOk(["uncordon", NODE]);
    await deleteNamespace(ns);
  }
}

main().then(
  () => process.exit(0),
  (err: unknown) => {
    console.error(err);
    process.exit(1);
  },
);
