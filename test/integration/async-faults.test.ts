/**
 * The async queue under faults, on the local cluster: 5,000 events while every
 * dispatcher (the activators) is killed with SIGKILL twice and nats-server is restarted
 * once. Every accepted event must reach exactly one final state, and the function's side
 * effect — a POST of its request id to a sink this test serves — must show no duplicate
 * and no gap.
 */
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { createServer, type Server } from "node:http";
import { after, before, describe, it } from "node:test";
import { promisify } from "node:util";
import {
  applyYaml,
  core,
  deleteNamespace,
  HOST_IP,
  installFullUpdraft,
  invokeAuth,
  newNamespace,
  SYSTEM_NAMESPACE,
  waitFor,
} from "./harness.ts";

const EVENTS = Number(process.env.UPDRAFT_FAULT_EVENTS ?? 5000);

let base = "";
let ns = "";
let sink: Server;
let sinkPort = 0;
const seen = new Map<string, number>();
// Never execFileSync here: the sink lives in this process, and a blocked event loop would
// stall the function's side effect into its time-out (and a retry would then repeat it).
const run = promisify(execFile);

async function pool<T>(items: readonly T[], width: number, fn: (t: T) => Promise<void>): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: width }, async () => {
      while (next < items.length) await fn(items[next++]!);
    }),
  );
}

/**
 * SIGKILL every activator process (the dispatchers, mid-work), then replace their pods at
 * once — a container restart would wait out the kubelet's crash-loop back-off, which
 * grows with every kill — and wait until the new ones serve.
 */
async function killDispatchers(): Promise<void> {
  const activators = async () =>
    (
      await core.listNamespacedPod({
        namespace: SYSTEM_NAMESPACE,
        labelSelector: "app.kubernetes.io/name=updraft-activator",
      })
    ).items.filter((p) => !p.metadata?.deletionTimestamp);
  const before = new Set((await activators()).map((p) => p.metadata!.name!));
  const pids = (await run("pgrep", ["-f", "src/cmd/activator/main.ts"])).stdout.trim().split("\n");
  assert.ok(pids.length >= 1 && pids[0] !== "", "no activator process found");
  await run("kill", ["-KILL", ...pids]);
  await run("kubectl", [
    "-n",
    SYSTEM_NAMESPACE,
    "delete",
    "pod",
    "--grace-period=0",
    "--force",
    "--wait=false",
    ...before,
  ]);
  await waitFor(
    "new activators ready",
    async () => {
      const now = await activators();
      return (
        now.length >= before.size &&
        now.every(
          (p) =>
            !before.has(p.metadata!.name!) &&
            p.status?.conditions?.some((c) => c.type === "Ready" && c.status === "True"),
        )
      );
    },
    120_000,
    250,
  );
}

/** Deletes the release's NATS pod; its StatefulSet starts it again on the same volume. */
async function restartNats(): Promise<void> {
  const old = await core.readNamespacedPod({ name: "updraft-nats-0", namespace: SYSTEM_NAMESPACE });
  await core.deleteNamespacedPod({ name: "updraft-nats-0", namespace: SYSTEM_NAMESPACE });
  await waitFor(
    "a new NATS pod Ready",
    async () => {
      const p = await core.readNamespacedPod({ name: "updraft-nats-0", namespace: SYSTEM_NAMESPACE });
      return (
        p.metadata?.uid !== old.metadata?.uid &&
        p.status?.conditions?.some((c) => c.type === "Ready" && c.status === "True")
      );
    },
    120_000,
    250,
  );
}

describe("async queue under faults", () => {
  before(async () => {
    base = await installFullUpdraft();
    ns = await newNamespace("async-faults");
    sink = createServer((req, res) => {
      let body = "";
      req.on("data", (c: Buffer) => {
        body += c.toString();
      });
      req.on("end", () => {
        seen.set(body, (seen.get(body) ?? 0) + 1);
        res.end("ok");
      });
    });
    await new Promise<void>((r) => sink.listen(0, HOST_IP, () => r()));
    sinkPort = (sink.address() as { port: number }).port;
    applyYaml(
      ns,
      `apiVersion: updraft.dev/v1alpha1
kind: Function
metadata: {name: effect}
spec:
  runtime: nodejs24
  handler: index.main_handler
  memoryMB: 512
  timeoutSeconds: 10
  concurrency: {perInstance: 8}
  scaling: {minInstances: 1, maxInstances: 2}
  code:
    inline:
      index.js: |
        exports.main_handler = async (event, context) => {
          await new Promise((r) => setTimeout(r, 20));
          const res = await fetch("http://${HOST_IP}:${sinkPort}/", { method: "POST", body: context.request_id });
          if (!res.ok) throw new Error("sink said " + res.status);
          return event.i;
        };
`,
    );
    await waitFor(
      "effect ready",
      async () => {
        const r = await fetch(`${base}/v1/namespaces/${ns}/functions/effect/invocations`, {
          method: "POST",
          headers: invokeAuth(),
          body: '{"i":-1}',
        });
        await r.arrayBuffer();
        return r.status === 200;
      },
      120_000,
      500,
    );
    seen.clear();
  });
  after(async () => {
    await deleteNamespace(ns);
    sink?.close();
  });

  it(`${EVENTS} events, dispatchers SIGKILLed twice, nats-server restarted: each event once, final`, async () => {
    const ids: string[] = [];
    await pool(
      Array.from({ length: EVENTS }, (_, i) => i),
      32,
      async (i) => {
        const r = await fetch(`${base}/v1/namespaces/${ns}/functions/effect/invocations`, {
          method: "POST",
          headers: { ...invokeAuth(), "X-Updraft-Invocation-Type": "Event" },
          body: JSON.stringify({ i }),
        });
        const body = (await r.json()) as { requestId: string };
        assert.equal(r.status, 202, JSON.stringify(body));
        ids.push(body.requestId);
      },
    );
    assert.equal(ids.length, EVENTS);
    // Faults while the events are being run.
    const ranBefore = seen.size;
    assert.ok(ranBefore < EVENTS, `all ${EVENTS} ran before the first fault (${ranBefore})`);
    await killDispatchers();
    await killDispatchers();
    await restartNats();

    // Every accepted event reaches a final state.
    const pending = new Set(ids);
    // The last thing read of each event still pending: what a time-out reports.
    const lastRead = new Map<string, string>();
    await waitFor(
      "every event final",
      async () => {
        await pool([...pending], 32, async (id) => {
          const r = await fetch(`${base}/v1/namespaces/${ns}/invocations/${id}`, {
            headers: invokeAuth(),
          }).catch(() => undefined);
          if (!r) return;
          const text = await r.text();
          const rec = r.status === 200 ? (JSON.parse(text) as { status: string }) : undefined;
          if (rec?.status === "Succeeded" || rec?.status === "DeadLettered") pending.delete(id);
          else lastRead.set(id, `${r.status} ${text.slice(0, 400)}`);
        });
        return pending.size === 0;
      },
      600_000,
      2000,
    ).catch((err: unknown) => {
      const statuses = new Map<string, number>();
      for (const id of pending) {
        const status = /"status":"(\w+)"/.exec(lastRead.get(id) ?? "")?.[1] ?? "unread";
        statuses.set(status, (statuses.get(status) ?? 0) + 1);
      }
      const sample = [...pending].slice(0, 3).map((id) => lastRead.get(id));
      throw new Error(
        `${String(err)}; ${pending.size} pending by status ${JSON.stringify([...statuses])}; e.g. ${sample.join(" | ")}`,
      );
    });
    // Exactly once: every id made its side effect one time.
    const duplicates = [...seen].filter(([, n]) => n > 1);
    const missing = ids.filter((id) => !seen.has(id));
    assert.deepEqual(
      { duplicates: duplicates.length, missing: missing.length },
      { duplicates: 0, missing: 0 },
      `duplicates ${JSON.stringify(duplicates.slice(0, 5))}; missing ${missing.slice(0, 5)}`,
    );
  });
});
