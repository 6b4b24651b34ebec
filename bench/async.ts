/**
 * Async bench, three figures in one run, all from the same clients (undici, kept-alive
 * connections, so the client costs as little as it can on a machine it shares):
 *
 * - intake: 202s per second (each event on JetStream's disk and its record written) into
 *   the queue of a function that runs nothing meanwhile (concurrency.max 1, its one slot
 *   held by a long call): what the queue itself takes, as in a burst that outruns the
 *   instances;
 * - end to end: events per second from the first enqueue to the last record's finishedAt,
 *   for a Node.js function that returns at once, with the events running while they are
 *   enqueued (and enqueue/s of that phase, which shares the CPU with the runs);
 * - baseline, same run: the same events invoked synchronously by the same clients.
 *
 *   make bench-async        (or: node bench/async.ts [events] [clients])
 */
import { jetstreamManager } from "@nats-io/jetstream";
import { connect } from "@nats-io/transport-node";
import { Agent, request } from "undici";
import { consumerOf, STREAM } from "../src/async/queue.ts";
import {
  applyYaml,
  deleteNamespace,
  installFullUpdraft,
  invokeAuth,
  natsOptions,
  newNamespace,
  waitFor,
} from "../test/integration/harness.ts";

const events = Number(process.argv[2] ?? 3000);
const clients = Number(process.argv[3] ?? 32);
const dispatcher = new Agent({ connections: clients, keepAliveTimeout: 30_000 });

async function pool<T>(items: readonly T[], width: number, fn: (t: T) => Promise<void>): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: width }, async () => {
      while (next < items.length) await fn(items[next++]!);
    }),
  );
}

async function post(url: string, body: string, headers: Record<string, string> = {}) {
  const r = await request(url, {
    method: "POST",
    body,
    headers: { ...invokeAuth(), ...headers },
    dispatcher,
  });
  return { status: r.statusCode, text: await r.body.text() };
}

/** Enqueues every item; resolves the request ids and the seconds it took. */
async function enqueueAll(
  url: string,
  items: readonly number[],
): Promise<{ ids: string[]; seconds: number }> {
  const ids: string[] = [];
  const t0 = performance.now();
  await pool(items, clients, async (i) => {
    const r = await post(url, JSON.stringify({ i }), { "X-Updraft-Invocation-Type": "Event" });
    if (r.status !== 202) throw new Error(`enqueue answered ${r.status}: ${r.text}`);
    ids.push((JSON.parse(r.text) as { requestId: string }).requestId);
  });
  return { ids, seconds: (performance.now() - t0) / 1000 };
}

const fn = (name: string, spec: string, code: string) => `apiVersion: updraft.dev/v1alpha1
kind: Function
metadata: {name: ${name}}
spec:
  runtime: nodejs24
  handler: index.main_handler
  memoryMB: 512
${spec}
  code: {inline: {index.js: ${JSON.stringify(code)}}}
`;

async function main(): Promise<void> {
  const base = await installFullUpdraft();
  const ns = await newNamespace("bench-async");
  try {
    applyYaml(
      ns,
      fn(
        "sink",
        "  concurrency: {perInstance: 16}\n  scaling: {minInstances: 2, maxInstances: 2}",
        "exports.main_handler = async (e) => e.i;",
      ),
    );
    // The intake function: one slot (max 1), held by a call that waits until told to stop.
    applyYaml(
      ns,
      fn(
        "held",
        "  timeoutSeconds: 300\n  concurrency: {max: 1, perInstance: 1}\n  scaling: {minInstances: 1, maxInstances: 1}",
        "exports.main_handler = async (e) => { if (e.hold) await new Promise((r) => setTimeout(r, e.hold)); return 1; };",
      ),
    );
    const url = (name: string) => `${base}/v1/namespaces/${ns}/functions/${name}/invocations`;
    for (const name of ["sink", "held"])
      await waitFor(
        `${name} ready`,
        async () => (await post(url(name), '{"i":0}')).status === 200,
        120_000,
        500,
      );
    const items = Array.from({ length: events }, (_, i) => i);

    // Baseline: the same events, synchronously.
    const t0 = performance.now();
    await pool(items, clients, async (i) => {
      const r = await post(url("sink"), JSON.stringify({ i }));
      if (r.status !== 200) throw new Error(`sync answered ${r.status}: ${r.text}`);
    });
    const syncPerSecond = events / ((performance.now() - t0) / 1000);

    // End to end: enqueue all, then wait until the function's consumer has every event
    // acknowledged — an event is acked only after its final record is written — asking
    // JetStream for two numbers every 100 ms, so that watching costs the run nothing (reading
    // every record each second did: thousands of reads beside the events). Then every record
    // is read once, each must be Succeeded, and the end is the last one's finishedAt (the
    // activators' clock is this machine's).
    const nc = await connect(await natsOptions());
    const jsm = await jetstreamManager(nc);
    const startedAt = Date.now();
    const running = await enqueueAll(url("sink"), items);
    await waitFor(
      "every event acknowledged",
      async () => {
        const c = await jsm.consumers.info(STREAM, consumerOf(ns, "sink"));
        return c.num_pending === 0 && c.num_ack_pending === 0;
      },
      600_000,
      100,
    );
    await nc.close();
    let lastFinished = 0;
    await pool(running.ids, 8, async (id) => {
      const r = await request(`${base}/v1/namespaces/${ns}/invocations/${id}`, {
        dispatcher,
        headers: invokeAuth(),
      });
      const rec = (await r.body.json()) as { status?: string; finishedAt?: string };
      if (rec.status !== "Succeeded") throw new Error(`${id} ended ${rec.status}`);
      lastFinished = Math.max(lastFinished, Date.parse(rec.finishedAt!));
    });
    const endToEndSeconds = (lastFinished - startedAt) / 1000;

    // Last, so that its held events (retried while the one slot is taken) cost the other
    // phases nothing.
    // Intake: the held function's one slot taken by a long call, then every event enqueued.
    // The long call may lose the slot to a probe of the moment before (432): send it again
    // until it is still running a second later.
    let holding: ReturnType<typeof post>;
    for (;;) {
      holding = post(url("held"), '{"hold":60000}');
      const early = await Promise.race([holding, new Promise((r) => setTimeout(() => r(undefined), 1000))]);
      if (early === undefined) break;
    }
    const seen = new Set<string>();
    await waitFor(
      "the held function's slot taken",
      async () => {
        const r = await post(url("held"), '{"i":0}');
        if (r.status !== 432) seen.add(`${r.status} ${r.text.slice(0, 120)}`);
        return r.status === 432;
      },
      30_000,
      100,
    ).catch((err: unknown) => {
      throw new Error(`${String(err)}; answers: ${[...seen].join(" | ")}`);
    });
    const intake = await enqueueAll(url("held"), items);

    console.log(
      JSON.stringify(
        {
          events,
          clients,
          syncPerSecond: Math.round(syncPerSecond),
          intakePerSecond: Math.round(events / intake.seconds),
          enqueueWhileRunningPerSecond: Math.round(events / running.seconds),
          endToEndPerSecond: Math.round(events / endToEndSeconds),
          intakeVsSync: Number((events / intake.seconds / syncPerSecond).toFixed(2)),
          endToEndVsSync: Number((events / endToEndSeconds / syncPerSecond).toFixed(2)),
        },
        null,
        2,
      ),
    );
    void holding.catch(() => undefined);
  } finally {
    await deleteNamespace(ns);
    await dispatcher.close().catch(() => undefined);
  }
}

main().then(
  () => process.exit(0),
  (err: unknown) => {
    console.error(err);
    process.exit(1);
  },
);
