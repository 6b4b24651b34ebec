/**
 * Warm pool vs plain cold start, same run: for Node.js and Python, a function that returns
 * its event is invoked once at zero — request to answer — N times (default 10) each way,
 * alternating: in a namespace with a pool (a new function each time, so it has no instance
 * and a pool instance is ready), and in a namespace without one (the same function back at
 * zero with no pod left). Prints the medians and p90s and the pool's ratio to plain.
 *
 *   make bench-pool        (or: node bench/pool.ts [runs])
 */
import {
  applyYaml,
  apps,
  core,
  custom,
  deleteNamespace,
  getFunction,
  installFullUpdraft,
  invokeAuth,
  isReady,
  newNamespace,
  readyPoolPods,
  waitFor,
} from "../test/integration/harness.ts";
import { percentile } from "./load.ts";

const runs = Number(process.argv[2] ?? 10);

const RUNTIMES: Record<string, string> = {
  nodejs24: `handler: index.main_handler
  code: {inline: {index.js: "exports.main_handler = async (e) => e;"}}`,
  "python3.11": `handler: index.main_handler
  code: {inline: {index.py: "def main_handler(event, context):\\n    return event\\n"}}`,
};

const manifest = (name: string, runtime: string) => `apiVersion: updraft.dev/v1alpha1
kind: Function
metadata: {name: ${name}}
spec:
  runtime: ${runtime}
  scaling: {scaleToZeroAfterSeconds: 2}
  ${RUNTIMES[runtime]}
`;

async function timedInvoke(base: string, ns: string, name: string): Promise<number> {
  const t0 = performance.now();
  const r = await fetch(`${base}/v1/namespaces/${ns}/functions/${name}/invocations`, {
    method: "POST",
    headers: invokeAuth(),
    body: '{"i":1}',
  });
  const text = await r.text();
  if (r.status !== 200 || r.headers.get("x-updraft-function-error"))
    throw new Error(`${name}: ${r.status} ${text}`);
  return performance.now() - t0;
}

async function main(): Promise<void> {
  const poolNs = await newNamespace("bench-pool");
  const plainNs = await newNamespace("bench-plain");
  const base = await installFullUpdraft({
    "warmPool.namespaces[0]": poolNs,
    "warmPool.sizes.nodejs24": 1,
    "warmPool.sizes.python3\\.11": 1,
  });
  const rows: string[] = [];
  try {
    for (const runtime of Object.keys(RUNTIMES)) {
      const plainName = `plain-${runtime.replace(".", "-")}`;
      applyYaml(plainNs, manifest(plainName, runtime));
      const pool: number[] = [];
      const plain: number[] = [];
      for (let i = 0; i < runs; i++) {
        // Plain: the same function back at zero, no pod left.
        await waitFor(
          `${plainName} at zero with no pods`,
          async () => {
            const fn = await getFunction(plainNs, plainName).catch(() => undefined);
            const dep = await apps
              .readNamespacedDeployment({ name: `fn-${plainName}`, namespace: plainNs })
              .catch(() => undefined);
            const pods = await core.listNamespacedPod({
              namespace: plainNs,
              labelSelector: `updraft.dev/function=${plainName}`,
            });
            return isReady(fn) && dep?.spec?.replicas === 0 && pods.items.length === 0;
          },
          180_000,
          50,
        );
        plain.push(await timedInvoke(base, plainNs, plainName));
        // Pool: a new function, a pool instance ready for it.
        const name = `pool-${runtime.replace(".", "-")}-${i}`;
        applyYaml(poolNs, manifest(name, runtime));
        await waitFor(
          `${name} Ready and a ${runtime} pool instance ready`,
          async () =>
            isReady(await getFunction(poolNs, name)) && (await readyPoolPods(poolNs, runtime)).length >= 1,
          180_000,
          50,
        );
        pool.push(await timedInvoke(base, poolNs, name));
        await deleteFunction(poolNs, name);
      }
      const p = (xs: number[], q: number) => Math.round(percentile(xs, q));
      rows.push(
        `| ${runtime} | ${p(pool, 0.5)} / ${p(pool, 0.9)} | ${p(plain, 0.5)} / ${p(plain, 0.9)} | ${(percentile(pool, 0.5) / percentile(plain, 0.5)).toFixed(2)} |`,
      );
    }
  } finally {
    await deleteNamespace(poolNs);
    await deleteNamespace(plainNs);
  }
  console.log(`\n## Warm pool vs plain cold start (${runs} each, request → answer, same run)\n`);
  console.log(
    "| runtime | pool hit p50 / p90 ms | plain p50 / p90 ms | pool / plain (p50) |\n|---|---|---|---|",
  );
  for (const r of rows) console.log(r);
}

/** Deletes a pool run's function (its adopted pod goes with its ReplicaSet). */
async function deleteFunction(ns: string, name: string): Promise<void> {
  await custom.deleteNamespacedCustomObject({
    group: "updraft.dev",
    version: "v1alpha1",
    namespace: ns,
    plural: "functions",
    name,
  });
}

main().then(
  () => process.exit(0),
  (err: unknown) => {
    console.error(err);
    process.exit(1);
  },
);
