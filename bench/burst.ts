/**
 * A burst at a function at zero: N requests (default 10,000) sent at once, each on its own
 * connection, to a Node.js function that waits 200 ms (perInstance 50). Every one must be
 * answered — 200, or 429/503 with SCF's coded body and Retry-After — and no activator may
 * restart. Prints the answers by status, how many of the refusals were coded and carried
 * Retry-After, connection errors, latency percentiles, and the activators' restarts.
 *
 *   make bench-burst            (or: node bench/burst.ts [requests] [concurrency])
 */
import { Agent, request } from "undici";
import {
  applyYaml,
  apps,
  core,
  deleteNamespace,
  installFullUpdraft,
  invokeAuth,
  newNamespace,
  SYSTEM_NAMESPACE,
  waitFor,
} from "../test/integration/harness.ts";
import { percentile } from "./load.ts";

const requests = Number(process.argv[2] ?? 10_000);
const concurrency = Number(process.argv[3] ?? requests);

async function activatorRestarts(): Promise<number> {
  const pods = await core.listNamespacedPod({
    namespace: SYSTEM_NAMESPACE,
    labelSelector: "app.kubernetes.io/component=activator",
  });
  return pods.items.reduce(
    (n, p) => n + (p.status?.containerStatuses ?? []).reduce((m, c) => m + c.restartCount, 0),
    0,
  );
}

async function main(): Promise<void> {
  const base = await installFullUpdraft();
  const ns = await newNamespace("bench-burst");
  try {
    applyYaml(
      ns,
      `apiVersion: updraft.dev/v1alpha1
kind: Function
metadata: {name: burst}
spec:
  runtime: nodejs24
  handler: index.main_handler
  memoryMB: 512
  timeoutSeconds: 10
  concurrency: {perInstance: 50}
  scaling: {maxInstances: 16, scaleToZeroAfterSeconds: 10}
  code:
    inline:
      index.js: |
        exports.main_handler = async () => {
          await new Promise((r) => setTimeout(r, 200));
          return "ok";
        };
`,
    );
    await waitFor(
      "burst at zero with no pods",
      async () => {
        const d = await apps
          .readNamespacedDeployment({ name: "fn-burst", namespace: ns })
          .catch(() => undefined);
        const pods = await core.listNamespacedPod({
          namespace: ns,
          labelSelector: "updraft.dev/function=burst",
        });
        return d?.spec?.replicas === 0 && pods.items.length === 0;
      },
      120_000,
      250,
    );
    const restartsBefore = await activatorRestarts();
    // One connection per request, as N independent clients would have.
    const agent = new Agent({
      connections: null,
      pipelining: 0,
      headersTimeout: 300_000,
      bodyTimeout: 300_000,
    });
    const url = `${base}/v1/namespaces/${ns}/functions/burst/invocations`;
    const statuses = new Map<string, number>();
    let coded = 0;
    let retryAfter = 0;
    let refusals = 0;
    const latencies: number[] = [];
    const errors = new Map<string, number>();
    let next = 0;
    const t0 = performance.now();
    await Promise.all(
      Array.from({ length: concurrency }, async () => {
        while (next < requests) {
          next++;
          const start = performance.now();
          try {
            const r = await request(url, {
              method: "POST",
              headers: invokeAuth(),
              body: "{}",
              dispatcher: agent,
            });
            const text = await r.body.text();
            statuses.set(String(r.statusCode), (statuses.get(String(r.statusCode)) ?? 0) + 1);
            latencies.push(performance.now() - start);
            if (r.statusCode !== 200) {
              refusals++;
              try {
                if (typeof (JSON.parse(text) as { errorCode?: unknown }).errorCode === "number") coded++;
              } catch {
                // not coded
              }
              if (r.headers["retry-after"]) retryAfter++;
            }
          } catch (err) {
            const code = String((err as { cause?: { code?: string } }).cause?.code ?? (err as Error).name);
            errors.set(code, (errors.get(code) ?? 0) + 1);
          }
        }
      }),
    );
    const seconds = (performance.now() - t0) / 1000;
    await agent.close();
    const restarts = (await activatorRestarts()) - restartsBefore;
    console.log(
      JSON.stringify(
        {
          requests,
          concurrency,
          seconds: Number(seconds.toFixed(1)),
          statuses: Object.fromEntries([...statuses].sort()),
          refusals,
          refusalsCoded: coded,
          refusalsWithRetryAfter: retryAfter,
          connectionErrors: Object.fromEntries(errors),
          latencyMs: {
            p50: Math.round(percentile(latencies, 0.5)),
            p90: Math.round(percentile(latencies, 0.9)),
            p99: Math.round(percentile(latencies, 0.99)),
          },
          activatorRestarts: restarts,
        },
        null,
        2,
      ),
    );
  } finally {
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
