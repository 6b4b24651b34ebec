/**
 * Async invocations on the local cluster: real nats-server (JetStream), the activators'
 * dispatchers, SCF's retry policy with the retry delays shortened by the cluster setting
 * (UPDRAFT_ASYNC_RETRY_DELAYS_SECONDS), dead letters, records, the queue limit.
 */
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { jetstream } from "@nats-io/jetstream";
import { connect, headers as natsHeaders } from "@nats-io/transport-node";
import {
  applyYaml,
  componentSeries,
  core,
  deleteNamespace,
  installFullUpdraft,
  invokeAuth,
  invokerToken,
  natsOptions,
  newNamespace,
  ROOT,
  waitFor,
} from "./harness.ts";

let base = "";
let ns = "";
const QUEUE_LIMIT = 20;

const pyFn = (name: string, body: string, extra = "") => `apiVersion: updraft.dev/v1alpha1
kind: Function
metadata: {name: ${name}}
spec:
  runtime: python3.11
  handler: index.main_handler
${extra}  code:
    inline:
      index.py: |
${body
  .split("\n")
  .map((l) => `        ${l}`)
  .join("\n")}
`;

async function post(
  name: string,
  body: string | Buffer,
  async = true,
): Promise<{ status: number; json: unknown }> {
  const res = await fetch(`${base}/v1/namespaces/${ns}/functions/${name}/invocations`, {
    method: "POST",
    headers: {
      "content-type": "application/json",
      ...invokeAuth(),
      ...(async ? { "X-Updraft-Invocation-Type": "Event" } : {}),
    },
    body,
    signal: AbortSignal.timeout(60_000),
  });
  const text = await res.text();
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    json = text;
  }
  return { status: res.status, json };
}

interface Rec {
  status: string;
  attempts: number;
  userErrors: number;
  result?: unknown;
  error?: { errorCode: number; errorMessage: string; errorType: string };
  deadLetter?: string;
}

async function record(id: string): Promise<Rec | undefined> {
  const res = await fetch(`${base}/v1/namespaces/${ns}/invocations/${id}`, { headers: invokeAuth() });
  if (res.status === 404) {
    await res.arrayBuffer();
    return undefined;
  }
  return (await res.json()) as Rec;
}

const FINAL = new Set(["Succeeded", "Failed", "DeadLettered"]);

async function finalRecord(id: string, timeoutMs = 60_000): Promise<Rec> {
  return waitFor(
    `invocation ${id} final`,
    async () => {
      const r = await record(id);
      return r && FINAL.has(r.status) ? r : undefined;
    },
    timeoutMs,
    250,
  );
}

/** How many times a request id started on any instance of a function (its pods' logs). */
async function runsOf(fn: string, id: string): Promise<number> {
  const pods = await core.listNamespacedPod({ namespace: ns, labelSelector: `updraft.dev/function=${fn}` });
  let n = 0;
  for (const p of pods.items) {
    const log = await core.readNamespacedPodLog({ name: p.metadata!.name!, namespace: ns }).catch(() => "");
    n += (String(log).match(new RegExp(`^START RequestId:${id}$`, "gm")) ?? []).length;
  }
  return n;
}

describe("async invocations", () => {
  before(async () => {
    // The chart values that shorten SCF's 1 min / 2 min retry delays, and a small queue.
    base = await installFullUpdraft({
      "async.retryDelaysSeconds": "1,2",
      "async.maxPerFunction": QUEUE_LIMIT,
    });
    ns = await newNamespace("async");
    applyYaml(
      ns,
      pyFn(
        "echo",
        'def main_handler(event, context):\n    return {"got": event, "id": context["request_id"]}',
      ),
    );
    applyYaml(ns, pyFn("sink", "def main_handler(event, context):\n    return event"));
    applyYaml(
      ns,
      pyFn(
        "thrower",
        'def main_handler(event, context):\n    raise ValueError("always fails")',
        "  scaling: {minInstances: 1}\n  async: {retryAttempts: 2, deadLetter: {function: sink}}\n",
      ),
    );
    applyYaml(
      ns,
      pyFn(
        "lost",
        'def main_handler(event, context):\n    raise ValueError("lost")',
        "  async: {retryAttempts: 0, deadLetter: {subject: failed.orders}}\n",
      ),
    );
    applyYaml(
      ns,
      pyFn(
        "never",
        'def main_handler(event, context):\n    return "ran"',
        "  async: {maxEventAgeSeconds: 60, deadLetter: {function: sink}}\n",
      ),
    );
    applyYaml(
      ns,
      pyFn(
        "limited",
        "import time\ndef main_handler(event, context):\n    time.sleep(0.5)\n    return event",
        "  concurrency: {max: 2}\n",
      ),
    );
    applyYaml(
      ns,
      pyFn(
        "slowq",
        "import time\ndef main_handler(event, context):\n    time.sleep(0.3)\n    return event",
        "  scaling: {maxInstances: 1}\n",
      ),
    );
    // Every activator has these functions (and its async consumers) before the tests.
    await waitFor(
      "functions known to the activators",
      async () => {
        for (const f of ["echo", "sink", "thrower", "lost", "never", "slowq", "limited"]) {
          const r = await fetch(`${base}/v1/namespaces/${ns}/functions/${f}/invocations`, {
            method: "POST",
            headers: { ...invokeAuth(), "X-Updraft-Invocation-Type": "Nope" },
            body: "{}",
          });
          await r.arrayBuffer();
          if (r.status !== 400) return false; // 435 while unknown
        }
        return true;
      },
      60_000,
    );
  });
  after(async () => {
    await deleteNamespace(ns);
    await installFullUpdraft(); // the activators' settings back to the chart's
  });

  it("an event answers 202 with its request id, runs, and its record says Succeeded with the result", async () => {
    const r = await post("echo", '{"hello":"async"}');
    assert.equal(r.status, 202);
    const id = (r.json as { requestId: string }).requestId;
    assert.match(id, /^[0-9a-f-]{36}$/);
    const rec = await finalRecord(id);
    assert.equal(rec.status, "Succeeded");
    assert.equal(rec.attempts, 1);
    assert.deepEqual(rec.result, { got: { hello: "async" }, id });
    // The CLI shows the same record.
    const out = execFileSync(
      process.execPath,
      [join(ROOT, "src/cmd/updraft/main.ts"), "invocation", id, "-n", ns],
      {
        env: { ...process.env, UPDRAFT_URL: base, UPDRAFT_TOKEN: invokerToken() },
      },
    ).toString();
    assert.equal((JSON.parse(out) as Rec).status, "Succeeded");
  });

  it("bad input is refused with a code and queues nothing: over 128 KB 406, not JSON 400, unknown function 435", async () => {
    const big = await post("echo", JSON.stringify({ pad: "x".repeat(130 * 1024) }));
    assert.equal(big.status, 406);
    const bad = await post("echo", "{not json");
    assert.equal(bad.status, 400);
    const unknown = await post("nobody", "{}");
    assert.equal(unknown.status, 435);
    for (const r of [big, bad, unknown])
      assert.equal(typeof (r.json as { errorCode: number }).errorCode, "number");
  });

  it("a function that always throws reaches the dead letter after exactly 1 + retryAttempts attempts", async () => {
    const r = await post("thrower", '{"n":1}');
    assert.equal(r.status, 202);
    const id = (r.json as { requestId: string }).requestId;
    const rec = await finalRecord(id, 90_000);
    assert.equal(rec.status, "DeadLettered");
    assert.equal(rec.attempts, 3);
    assert.equal(rec.error?.errorCode, 430);
    assert.equal(await runsOf("thrower", id), 3);
    // The dead letter reached the sink function with SCF's fields.
    const letter = await finalRecord(`${id}-dl`);
    assert.equal(letter.status, "Succeeded");
    const got = letter.result as {
      RequestID: string;
      ErrorCode: number;
      ErrorMessage: string;
      Event: unknown;
    };
    assert.equal(got.RequestID, id);
    assert.equal(got.ErrorCode, 430);
    assert.match(got.ErrorMessage, /always fails/);
    assert.deepEqual(got.Event, { n: 1 });
  });

  it("the bundled NATS lets in no anonymous client (a tenant's pod has no credentials)", async () => {
    const { servers } = await natsOptions();
    await assert.rejects(connect({ servers, reconnect: false, timeout: 5000 }), (err: Error) =>
      /authorization|authentication/i.test(String(err)),
    );
    await assert.rejects(
      connect({ servers, user: "activator", pass: "guessed", reconnect: false, timeout: 5000 }),
      (err: Error) => /authorization|authentication/i.test(String(err)),
    );
  });

  it("a dead-letter subject is the function's namespace's: Updraft publishes under updraft.dead-letters.{ns}", async () => {
    const nc = await connect(await natsOptions());
    try {
      const confined = nc.subscribe(`updraft.dead-letters.${ns}.failed.orders`, { max: 1, timeout: 60_000 });
      const bare = nc.subscribe("failed.orders");
      await nc.flush();
      const r = await post("lost", '{"n":2}');
      assert.equal(r.status, 202);
      const id = (r.json as { requestId: string }).requestId;
      const rec = await finalRecord(id, 90_000);
      assert.equal(rec.status, "DeadLettered");
      let letter: { RequestID?: string; Namespace?: string; Event?: unknown } | undefined;
      for await (const m of confined) letter = m.json();
      assert.equal(letter?.RequestID, id);
      assert.equal(letter?.Namespace, ns);
      assert.deepEqual(letter?.Event, { n: 2 });
      // The letter was published once, under the prefix: the bare name got nothing by the
      // time it arrived there (one publish, one connection: NATS keeps the order).
      await nc.flush();
      assert.equal(bare.getProcessed(), 0);
    } finally {
      await nc.close();
    }
  });

  it("an event past its max age never runs: it goes to the dead letter unrun", async () => {
    // An event that waited 61 s in the queue (maxEventAgeSeconds 60), published as the
    // activator would have.
    const nc = await connect(await natsOptions());
    const id = `old-${Date.now()}`;
    try {
      const h = natsHeaders();
      h.set("Updraft-Enqueued-At", String(Date.now() - 61_000));
      await jetstream(nc).publish(`updraft.async.${ns}.never`, Buffer.from('{"old":true}'), {
        msgID: id,
        headers: h,
      });
    } finally {
      await nc.close();
    }
    const rec = await finalRecord(id);
    assert.equal(rec.status, "DeadLettered");
    assert.equal(rec.attempts, 0);
    assert.equal(rec.error?.errorType, "EventExpired");
    // Never ran: the function was never even woken.
    const pods = await core.listNamespacedPod({ namespace: ns, labelSelector: "updraft.dev/function=never" });
    assert.equal(pods.items.length, 0);
    assert.equal((await finalRecord(`${id}-dl`)).status, "Succeeded");
  });

  it("the function's concurrency limit makes events wait, never fail", async () => {
    // max 2 (1 per activator), 10 events of 0.5 s at once: over the limit they are retried
    // with back-off, and all of them succeed.
    const accepted = await Promise.all(
      Array.from({ length: 10 }, (_, i) => post("limited", JSON.stringify({ i }))),
    );
    assert.deepEqual(
      accepted.map((r) => r.status),
      Array(10).fill(202),
    );
    for (const r of accepted) {
      const rec = await finalRecord((r.json as { requestId: string }).requestId, 120_000);
      assert.equal(rec.status, "Succeeded", JSON.stringify(rec));
    }
  });

  it(`the queue refuses at its limit (${QUEUE_LIMIT}) with 429, and drops nothing it accepted`, async () => {
    // Sent faster than one instance at 0.3 s each can take them: the queue fills.
    const results = await Promise.all(
      Array.from({ length: 40 }, (_, i) => post("slowq", JSON.stringify({ i }))),
    );
    const accepted = results.filter((r) => r.status === 202);
    const refused = results.filter((r) => r.status === 429);
    assert.equal(accepted.length + refused.length, 40, JSON.stringify(results.map((r) => r.status)));
    assert.ok(accepted.length >= QUEUE_LIMIT, `accepted ${accepted.length}`);
    assert.ok(refused.length > 0, "nothing refused");
    for (const r of refused) assert.equal((r.json as { errorType: string }).errorType, "AsyncQueueFull");
    for (const r of accepted) {
      const rec = await finalRecord((r.json as { requestId: string }).requestId, 120_000);
      assert.equal(rec.status, "Succeeded");
    }
  });

  it("every metric the Grafana dashboard uses has series after this traffic (cold starts, retries, dead letters, a queue)", async () => {
    const dashboard = JSON.parse(
      readFileSync(join(ROOT, "charts/updraft/files/dashboards/updraft-functions.json"), "utf8"),
    ) as { panels: Array<{ targets: Array<{ expr: string }> }> };
    const names = new Set(
      dashboard.panels.flatMap((p) => p.targets.flatMap((t) => t.expr.match(/\bupdraft_[a-z_]+/g) ?? [])),
    );
    assert.ok(names.size >= 10, [...names].join(" "));
    const missing: string[] = [];
    for (const name of names) {
      const series =
        (await componentSeries("activator", name, {})) + (await componentSeries("autoscaler", name, {}));
      if (series === 0) missing.push(name);
    }
    assert.deepEqual(missing, [], "dashboard metrics with no series");
    // The figures are this namespace's: a function's invocations by outcome and SCF code.
    assert.ok(
      (await componentSeries("activator", "updraft_function_invocations_total", {
        namespace: ns,
        outcome: "function_error",
        code: "430",
      })) > 0,
      "the thrower's 430s",
    );
    assert.ok(
      (await componentSeries("activator", "updraft_async_failed_events_total", {
        namespace: ns,
        how: "dead_lettered",
      })) > 0,
      "its dead letters",
    );
  });
});
