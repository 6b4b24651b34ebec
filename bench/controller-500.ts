/**
 * Controller bench: 500 Functions created from cold; the time until every one is Ready,
 * and the controller's RSS. The baseline, measured in the same run, is the time the
 * apiserver takes just to accept the 500 creates, so the ratio says what reconciling
 * costs on top of writing the objects at all.
 *
 *   make bench-controller        (or: node bench/controller-500.ts [count])
 */
import { readFileSync } from "node:fs";
import {
  custom,
  deleteNamespace,
  type Fn,
  installUpdraft,
  isReady,
  newNamespace,
  startController,
  waitFor,
} from "../test/integration/harness.ts";

const count = Number(process.argv[2] ?? 500);
const workers = process.env.UPDRAFT_WORKERS ?? "4";

/** CPU seconds (user + system) a process has used, from /proc/<pid>/stat. */
function cpuSeconds(pid: number): number {
  const fields = readFileSync(`/proc/${pid}/stat`, "utf8").split(") ")[1]!.split(" ");
  return (Number(fields[11]) + Number(fields[12])) / 100; // utime, stime in clock ticks (USER_HZ = 100)
}

function rssMiB(pid: number): number {
  const status = readFileSync(`/proc/${pid}/status`, "utf8");
  const kb = Number(/VmRSS:\s+(\d+)/.exec(status)?.[1] ?? 0);
  return kb / 1024;
}

const body = (name: string) => ({
  apiVersion: "updraft.dev/v1alpha1",
  kind: "Function",
  metadata: { name },
  spec: {
    runtime: "nodejs24",
    handler: "index.main_handler",
    code: { inline: { "index.js": `exports.main_handler = async () => "${name}"` } },
  },
});

async function createAll(namespace: string, prefix: string): Promise<number> {
  const t0 = performance.now();
  const names = Array.from({ length: count }, (_, i) => `${prefix}${i}`);
  // 16 creates in flight, as a GitOps tool applying a directory would.
  for (let i = 0; i < names.length; i += 16) {
    await Promise.all(
      names.slice(i, i + 16).map((n) =>
        custom.createNamespacedCustomObject({
          group: "updraft.dev",
          version: "v1alpha1",
          plural: "functions",
          namespace,
          body: body(n),
        }),
      ),
    );
  }
  return performance.now() - t0;
}

async function main(): Promise<void> {
  installUpdraft();
  // Baseline: the same creates with no controller running.
  const baseNs = await newNamespace("bench-base");
  const createMs = await createAll(baseNs, "b");
  await deleteNamespace(baseNs);

  const ns = await newNamespace("bench");
  const controller = await startController({
    LOG_LEVEL: "warn",
    UPDRAFT_LEASE_NAME: "bench-controller",
    UPDRAFT_WORKERS: workers,
    ...(process.env.BENCH_NODE_OPTIONS ? { NODE_OPTIONS: process.env.BENCH_NODE_OPTIONS } : {}),
  });
  await waitFor("leader", async () => (await controller.metric("updraft_controller_reconciles_total")) >= 0);
  const rssIdle = rssMiB(controller.proc.pid!);
  const cpu0 = cpuSeconds(controller.proc.pid!);
  let rssPeak = rssIdle;
  const sampler = setInterval(() => {
    rssPeak = Math.max(rssPeak, rssMiB(controller.proc.pid!));
  }, 100);
  const t0 = performance.now();
  await createAll(ns, "f");
  const createdMs = performance.now() - t0;
  await waitFor(
    `${count} Functions Ready`,
    async () => {
      const list = (await custom.listNamespacedCustomObject({
        group: "updraft.dev",
        version: "v1alpha1",
        plural: "functions",
        namespace: ns,
      })) as { items: Fn[] };
      return list.items.length === count && list.items.every(isReady);
    },
    600_000,
    250,
  );
  const readyMs = performance.now() - t0;
  clearInterval(sampler);
  const rssEnd = rssMiB(controller.proc.pid!);
  const cpuUsed = cpuSeconds(controller.proc.pid!) - cpu0;
  const writes = await controller.metric("updraft_controller_api_writes_total");
  await controller.stop();
  await deleteNamespace(ns);

  const result = {
    functions: count,
    baselineCreateOnlyMs: Math.round(createMs),
    createWithControllerMs: Math.round(createdMs),
    allReadyMs: Math.round(readyMs),
    readyOverCreateRatio: Number((readyMs / createMs).toFixed(2)),
    functionsReadyPerSecond: Number((count / (readyMs / 1000)).toFixed(1)),
    workers: Number(workers),
    controllerCpuSeconds: Number(cpuUsed.toFixed(1)),
    controllerApiWrites: writes,
    controllerRssMiB: { idle: Math.round(rssIdle), peak: Math.round(rssPeak), end: Math.round(rssEnd) },
  };
  console.log(JSON.stringify(result, null, 2));
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
