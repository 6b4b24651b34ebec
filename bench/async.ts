/**
 * Async bench: enqueue throughput (202s per second: the event is on JetStream's disk and
 * its record written) and end-to-end events per second (202 → record Succeeded) for a
 * Node.js function that returns at once. Baseline, same run: the same function invoked
 * synchronously by the same number of clients — what the queue costs on top of running.
 *
 *   make bench-async        (or: node bench/async.ts [events] [clients])
 */
import {
  applyYaml,
  deleteNamespace,
  installFullUpdraft,
  newNamespace,
  waitFor,
} from "../test/integration/harness.ts";

const events = Number(process.argv[2] ?? 3000);
const clients = Number(process.argv[3] ?? 32);

async function pool<T>(items: readonly T[], width: number, fn: (t: T) => Promise<void>): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: width }, async () => {
      while (next < items.length) await fn(items[next++]!);
    }),
  );
}

async function main(): Promise<void> {
  const base = await installFullUpdraft();
  const ns = await newNamespace("bench-async");
  try {
    applyYaml(
      ns,
      `apiVersion: updraft.dev/v1alpha1
kind: Function
metadata: {name: sink}
spec:
  runtime: nodejs24
  handler: index.main_handler
  memoryMB: 512
  concurrency: {perInstance: 16}
  scaling: {minInstances: 2, maxInstances: 2}
  code: {inline: {index.js: "exports.main_handler = async (e) => e.i;"}}
`,
    );
    const url = `${base}/v1/namespaces/${ns}/functions/sink/invocations`;
    await waitFor(
      "sink ready",
      async () => {
        const r = await fetch(url, { method: "POST", body: '{"i":0}' });
        await r.arrayBuffer();
        return r.status === 200;
      },
      120_000,
      500,
    );
    const items = Array.from({ length: events }, (_, i) => i);

    // Baseline: the same events, synchronously.
    let t0 = performance.now();
    await pool(items, clients, async (i) => {
      const r = await fetch(url, { method: "POST", body: JSON.stringify({ i }) });
      await r.arrayBuffer();
    });
    const syncPerSecond = events / ((performance.now() - t0) / 1000);

    // Async: enqueue all, then wait until every record is final.
    const ids: string[] = [];
    t0 = performance.now();
    await pool(items, clients, async (i) => {
      const r = await fetch(url, {
        method: "POST",
        headers: { "X-Updraft-Invocation-Type": "Event" },
        body: JSON.stringify({ i }),
      });
      if (r.status !== 202) throw new Error(`enqueue answered ${r.status}`);
      ids.push(((await r.json()) as { requestId: string }).requestId);
    });
    const enqueueSeconds = (performance.now() - t0) / 1000;
    const pending = new Set(ids);
    while (pending.size > 0) {
      await pool([...pending], clients, async (id) => {
        const r = await fetch(`${base}/v1/namespaces/${ns}/invocations/${id}`);
        const rec = (await r.json()) as { status?: string };
        if (rec.status === "Succeeded") pending.delete(id);
      });
      if (pending.size > 0) await new Promise((r) => setTimeout(r, 500));
    }
    const endToEndSeconds = (performance.now() - t0) / 1000;
    console.log(
      JSON.stringify(
        {
          events,
          clients,
          syncPerSecond: Math.round(syncPerSecond),
          enqueuePerSecond: Math.round(events / enqueueSeconds),
          endToEndPerSecond: Math.round(events / endToEndSeconds),
          enqueueVsSync: Number((events / enqueueSeconds / syncPerSecond).toFixed(2)),
          endToEndVsSync: Number((events / endToEndSeconds / syncPerSecond).toFixed(2)),
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
