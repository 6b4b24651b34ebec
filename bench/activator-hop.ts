/**
 * The activator's hop on this machine alone, no cluster: a real runtime shim (a Node.js
 * echo handler, the same shape as bench/activator-clients.ts) and the activator's server
 * and forwarder in a process of their own, loaded by closed-loop clients first straight at
 * the shim (baseline), then through the activator, same run. For profiling the data path
 * quickly: `node bench/activator-hop.ts [seconds] [1,10,50] [--cpu-prof] [--http]` writes the
 * activator's CPU profile to .cache/profiles/ with --cpu-prof; --http sends the calls to the
 * shim over HTTP rather than on the instance channel, as before it; --as-deployed adds what the
 * chart turns on besides — every caller's token checked (answered from the decision cache,
 * as a warm activator answers it) and the per-function metrics — so that their cost per
 * request shows beside the bare hop's.
 *
 * The figures that count are the cluster's (make bench-activator): here there is no
 * kube-proxy hop, no pod network and no cgroup, so the ratios are this process's own cost.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { chmodSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { connect } from "node:net";
import { join, resolve } from "node:path";
import { Registry } from "prom-client";
import { FunctionMetrics } from "../src/activator/function-metrics.ts";
import { HttpRoutes } from "../src/activator/http-trigger.ts";
import { ActivatorServer, activatorMetrics } from "../src/activator/server.ts";
import { FunctionTable } from "../src/activator/table.ts";
import type { UpdraftFunction } from "../src/api/v1alpha1.ts";
import { RequestAuthorizer } from "../src/lib/auth.ts";
import { silentLogger } from "../src/lib/logger.ts";
import { freePorts } from "../test/support/ports.ts";
import { tempDir } from "../test/support/temp-dir.ts";
import { closedLoop } from "./load.ts";

const root = resolve(import.meta.dirname, "..");

async function waitReady(url: string, what: string): Promise<void> {
  const deadline = Date.now() + 30_000;
  while (Date.now() < deadline) {
    try {
      const r = await fetch(url);
      await r.arrayBuffer();
      if (r.ok) return;
    } catch {
      // not listening yet
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`${what} did not become ready within 30 s`);
}

/** A process's CPU time so far (ms), user + system, from /proc. */
function cpuMs(pid: number): number {
  // Fields 14 and 15 of /proc/<pid>/stat (after the parenthesised name) are utime, stime in ticks.
  const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  return ((Number(fields[11]) + Number(fields[12])) * 1000) / 100;
}

async function waitListening(port: number): Promise<void> {
  const deadline = Date.now() + 30_000;
  for (;;) {
    const ok = await new Promise<boolean>((done) => {
      const s = connect(port, "127.0.0.1", () => {
        s.destroy();
        done(true);
      }).once("error", () => done(false));
    });
    if (ok) return;
    if (Date.now() > deadline) throw new Error(`nothing listens on ${port} after 30 s`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** The activator's side: the server, the table and the forwarder, one static function. */
async function serve(
  apiPort: number,
  shimPort: number,
  channelPort: number,
  asDeployed: boolean,
): Promise<void> {
  const table = new FunctionTable({
    maxWaiting: 10_000,
    maxShare: (max) => max,
    onColdRequest: () => undefined,
  });
  table.setFunctions([
    {
      apiVersion: "updraft.dev/v1alpha1",
      kind: "Function",
      metadata: { name: "echo", namespace: "bench" },
      spec: {
        runtime: "nodejs24",
        handler: "index.main_handler",
        memoryMB: 1024,
        concurrency: { perInstance: 50 },
        code: { inline: { "index.js": "" } },
      },
    } as UpdraftFunction,
  ]);
  table.setEndpointSlices([
    {
      addressType: "IPv4",
      metadata: { name: "echo-x", namespace: "bench", labels: { "updraft.dev/function": "echo" } },
      endpoints: [{ addresses: ["127.0.0.1"], conditions: { ready: true } }],
    },
  ]);
  const registry = new Registry();
  const server = new ActivatorServer(
    table,
    new HttpRoutes(),
    silentLogger(),
    activatorMetrics(registry),
    undefined,
    undefined,
    // As in a cluster, Event calls go on the instance channel (0: over HTTP, to compare).
    channelPort > 0 ? { port: shimPort, channelPort } : { port: shimPort },
  );
  if (asDeployed) {
    // The API server's answers come at once: what is measured is the cached path.
    server.authorizer = new RequestAuthorizer(
      { review: async () => ({ username: "system:serviceaccount:bench:caller", groups: [] }) },
      { review: async () => ({ allowed: true }) },
    );
    server.functionMetrics = new FunctionMetrics(registry, { *functions() {} });
  }
  await server.listen(apiPort);
  process.on("SIGTERM", () => process.exit(0));
}

async function main(): Promise<void> {
  const seconds = Number(process.argv[2] ?? 8);
  const series = (process.argv[3] ?? "1,10,50").split(",").map(Number);
  const profile = process.argv.includes("--cpu-prof");
  const code = tempDir("hop");
  writeFileSync(join(code, "index.js"), "exports.main_handler = async (e) => e;\n");
  writeFileSync(
    join(code, "bootstrap"),
    `#!/bin/sh\nexec "${process.execPath}" "${root}/runtimes/nodejs/bootstrap.cjs"\n`,
  );
  chmodSync(join(code, "bootstrap"), 0o755);
  const [shimPort, apiPort, runtimeApiPort, channelPort] = (await freePorts(4)) as [
    number,
    number,
    number,
    number,
  ];
  const overHttp = process.argv.includes("--http");
  const asDeployed = process.argv.includes("--as-deployed");
  // A token of a ServiceAccount's size (the reviewers above take any).
  const callerHeaders: Record<string, string> = asDeployed
    ? { authorization: `Bearer ${"x".repeat(900)}` }
    : {};
  const children: ChildProcess[] = [];
  const stop = () => {
    for (const c of children) c.kill("SIGTERM");
  };
  process.on("exit", stop);
  children.push(
    spawn(process.execPath, [join(root, "src/cmd/runtime/main.ts")], {
      stdio: ["ignore", "ignore", "inherit"],
      env: {
        ...process.env,
        SCF_RUNTIME: "custom",
        _HANDLER: "index.main_handler",
        SCF_USERCODEPATH: code,
        SCF_MEMORY_SIZE: "1024",
        UPDRAFT_PER_INSTANCE: "50",
        UPDRAFT_PORT: String(shimPort),
        UPDRAFT_CHANNEL_PORT: String(channelPort),
        SCF_RUNTIME_API_PORT: String(runtimeApiPort),
      },
    }),
  );
  const profDir = join(root, ".cache/profiles");
  if (profile) mkdirSync(profDir, { recursive: true });
  const activator = spawn(
    process.execPath,
    [
      ...(profile ? ["--cpu-prof", `--cpu-prof-dir=${profDir}`] : []),
      import.meta.filename,
      "serve",
      String(apiPort),
      String(shimPort),
      String(overHttp ? 0 : channelPort),
      String(asDeployed),
    ],
    { stdio: "inherit" },
  );
  children.push(activator);
  await waitReady(`http://127.0.0.1:${shimPort}/readyz`, "the shim");
  const via = `http://127.0.0.1:${apiPort}/v1/namespaces/bench/functions/echo/invocations`;
  const direct = `http://127.0.0.1:${shimPort}/invoke`;
  await waitListening(apiPort);
  await closedLoop(via, Math.max(...series), 2, callerHeaders); // warm-up: JIT, connections, workers
  const rows = [];
  for (const clients of series) {
    const d = await closedLoop(direct, clients, seconds, { "x-updraft-request-id": "bench" });
    const cpu0 = cpuMs(activator.pid!);
    const a = await closedLoop(via, clients, seconds, callerHeaders);
    const cpu = cpuMs(activator.pid!) - cpu0;
    rows.push({
      clients,
      direct: d,
      activator: a,
      throughputRatio: Number((a.rps / d.rps).toFixed(2)),
      addedP50Ms: Number((a.p50 - d.p50).toFixed(2)),
      addedP99Ms: Number((a.p99 - d.p99).toFixed(2)),
      // The activator's CPU per request it served (µs): its own cost, whatever the machine.
      activatorCpuUsPerRequest: Math.round((cpu * 1000) / (a.rps * seconds)),
    });
  }
  console.log(JSON.stringify({ seconds, rows }, null, 2));
  stop();
}

if (process.argv[2] === "serve") {
  serve(
    Number(process.argv[3]),
    Number(process.argv[4]),
    Number(process.argv[5]),
    process.argv[6] === "true",
  ).catch((err: unknown) => {
    console.error(err);
    process.exit(1);
  });
} else {
  main().then(
    () => process.exit(0),
    (err: unknown) => {
      console.error(err);
      process.exit(1);
    },
  );
}
