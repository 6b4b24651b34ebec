import assert from "node:assert/strict";
import { describe, it } from "node:test";
import type { V1EndpointSlice } from "@kubernetes/client-node";
import type { UpdraftFunction } from "../api/v1alpha1.ts";
import type { Condition } from "../lib/conditions.ts";
import { FunctionTable } from "./table.ts";

function fn(name: string, concurrency: Record<string, number> = {}): UpdraftFunction {
  return {
    apiVersion: "updraft.dev/v1alpha1",
    kind: "Function",
    metadata: { name, namespace: "ns" },
    spec: {
      runtime: "nodejs24",
      handler: "index.main_handler",
      code: { inline: { "index.js": "" } },
      concurrency,
    },
  } as UpdraftFunction;
}

/** A function's slice: ready addresses, and starting ones (listed, not ready yet). */
function slice(name: string, ready: string[], starting: string[] = []): V1EndpointSlice {
  return {
    addressType: "IPv4",
    metadata: { name: `fn-${name}-x`, namespace: "ns", labels: { "updraft.dev/function": name } },
    endpoints: [
      ...ready.map((ip) => ({ addresses: [ip], conditions: { ready: true } })),
      ...starting.map((ip) => ({ addresses: [ip], conditions: { ready: false } })),
    ],
  };
}

/** Polls `cond` every 5 ms until it holds, or fails after `ms`. */
async function until(cond: () => boolean, ms: number): Promise<void> {
  const deadline = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`not true within ${ms} ms`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

/** A table on a clock the test moves. */
function tableAt(opts: { share?: number; maxWaitingTotal?: number } = {}) {
  const clock = { t: 1_000_000 };
  const cold: string[] = [];
  const table = new FunctionTable({
    maxWaiting: 10,
    ...(opts.maxWaitingTotal !== undefined ? { maxWaitingTotal: opts.maxWaitingTotal } : {}),
    maxShare: (max) => (max === undefined ? undefined : (opts.share ?? max)),
    onColdRequest: (ns, name) => cold.push(`${ns}/${name}`),
    now: () => clock.t,
  });
  return { table, clock, cold };
}

/** Function `name` of generation 1 with a status written for it holding `condition`. */
function withStatus(name: string, condition: Condition): UpdraftFunction {
  return {
    ...fn(name),
    metadata: { name, namespace: "ns", generation: 1 },
    status: { observedGeneration: 1, conditions: [condition] },
  };
}

describe("FunctionTable, a function no instance of which can start", () => {
  it("those waiting for an instance are refused FunctionNotReady as soon as its status says so", async () => {
    const { table } = tableAt();
    table.setFunctions([fn("f")]);
    const f = table.get("ns", "f")!;
    const waiting = table.acquire(f, 60_000);
    const missing = withStatus("f", {
      type: "CodeReady",
      status: "False",
      reason: "ConfigMapNotFound",
      message: "ConfigMap c not found",
    });
    table.setFunctions([missing]);
    // The reason and where to read why; not the condition's message, which names the
    // function's ConfigMaps, Secrets and pods to a caller who may be anyone.
    await assert.rejects(
      waiting,
      (e: { code?: string; message?: string }) =>
        e.code === "FunctionNotReady" &&
        e.message ===
          "function ns/f cannot start an instance: ConfigMapNotFound (kubectl get function f -n ns -o yaml says why)",
    );
    assert.equal(f.unservable?.reason, "ConfigMapNotFound");
    table.setFunctions([fn("f")]);
    assert.equal(f.unservable, undefined, "a status without the fault clears it");
  });

  it("a call that waits out its cold start while the instances crash is told what the status says of them", async () => {
    const { table } = tableAt();
    const crashing = withStatus("f", {
      type: "InstancesHealthy",
      status: "Unknown",
      reason: "CrashLoopBackOff",
      message: "instance fn-f-1: container function: exited with code 1 (Error): HTTP 404 (being retried)",
    });
    table.setFunctions([crashing]);
    const f = table.get("ns", "f")!;
    // A crash loop may pass: the call waits (not refused at once), and its timeout says why.
    await assert.rejects(
      table.acquire(f, 20),
      (e: { code?: string; message?: string }) =>
        e.code === "NoInstanceReady" &&
        (e.message ?? "").endsWith(
          "; its status: InstancesHealthy Unknown CrashLoopBackOff (kubectl get function f -n ns -o yaml says why)",
        ) &&
        // Not the condition's message: pods' names and what an instance said stay in the status.
        !(e.message ?? "").includes("HTTP 404"),
    );
    // A status of an older generation says nothing about the spec now applied.
    table.setFunctions([{ ...crashing, metadata: { ...crashing.metadata, generation: 2 } }]);
    await assert.rejects(
      table.acquire(f, 20),
      (e: { code?: string; message?: string }) =>
        e.code === "NoInstanceReady" && !(e.message ?? "").includes("its status"),
    );
  });
});

describe("FunctionTable, EndpointSlice by EndpointSlice", () => {
  it("a change touches only its function: add an instance, then delete the slice", () => {
    const { table } = tableAt();
    table.setFunctions([fn("f"), fn("g")]);
    table.setEndpointSlices([slice("f", ["10.0.0.1"]), slice("g", ["10.0.1.1"])]);
    const f = table.get("ns", "f")!;
    const g = table.get("ns", "g")!;
    const gInstances = g.instances;
    table.applyEndpointSlice(slice("f", ["10.0.0.1", "10.0.0.2"]), false);
    assert.deepEqual(
      f.instances.map((i) => i.ip),
      ["10.0.0.1", "10.0.0.2"],
    );
    assert.equal(g.instances, gInstances, "g's instances were not rebuilt");
    table.applyEndpointSlice(slice("f", []), true);
    assert.deepEqual(f.instances, []);
  });
  it("a function's instances are the union of its slices, and one slice leaving keeps the other's", () => {
    const { table } = tableAt();
    table.setFunctions([fn("f")]);
    const a = slice("f", ["10.0.0.1"]);
    const b = { ...slice("f", ["10.0.0.2"]), metadata: { ...slice("f", []).metadata, name: "fn-f-y" } };
    table.applyEndpointSlice(a, false);
    table.applyEndpointSlice(b, false);
    assert.deepEqual(
      table
        .get("ns", "f")!
        .instances.map((i) => i.ip)
        .sort(),
      ["10.0.0.1", "10.0.0.2"],
    );
    table.applyEndpointSlice(a, true);
    assert.deepEqual(
      table.get("ns", "f")!.instances.map((i) => i.ip),
      ["10.0.0.2"],
    );
  });
});

describe("FunctionTable", () => {
  it("bounds what waits for all functions together (503 ActivatorOverloaded), and counts the waiting back down", async () => {
    const { table } = tableAt({ maxWaitingTotal: 3 });
    table.setFunctions([fn("f"), fn("g")]);
    const f = table.get("ns", "f")!;
    const g = table.get("ns", "g")!;
    // No instances: every request waits. Two for f and one for g fill the activator.
    const waiting = [table.acquire(f, 50), table.acquire(f, 50), table.acquire(g, 50)];
    for (const w of waiting) w.catch(() => undefined);
    assert.equal(table.waitingTotal, 3);
    await assert.rejects(table.acquire(g, 50), (e: { code?: string }) => e.code === "ActivatorOverloaded");
    // The three time out (NoInstanceReady) and leave room again.
    for (const w of waiting) await assert.rejects(w, (e: { code?: string }) => e.code === "NoInstanceReady");
    assert.equal(table.waitingTotal, 0);
    const again = table.acquire(g, 20);
    await assert.rejects(again, (e: { code?: string }) => e.code === "NoInstanceReady");
  });

  it("reports arrivals, time-averaged held and busy, and the moving execution time", async () => {
    const { table, clock } = tableAt();
    table.setFunctions([fn("f")]);
    table.setEndpointSlices([slice("f", ["10.0.0.1"])]);
    const st = table.get("ns", "f")!;
    table.takeActivity(st); // start a period at t0
    // Request A runs the whole second; B arrives at 500 ms and waits (perInstance 1).
    table.admit(st);
    const instA = await table.acquire(st, 5000);
    clock.t += 500;
    table.admit(st);
    const waitingB = table.acquire(st, 5000);
    clock.t += 500;
    const s1 = table.takeActivity(st);
    // held: 1 for 1 s + 1 for 0.5 s = 1.5; busy: 1; no answer yet, but A has run 1 s
    // (B's waiting is not work, so it does not lower or raise the estimate).
    assert.deepEqual(s1, {
      arrivals: 2,
      held: 1.5,
      busy: 1,
      durationMs: 1000,
      heldNow: 2,
      periodMs: 1000,
      longRunning: { 6: 0, 60: 0 },
    });
    // A ends after running 1000 ms: B gets the instance.
    table.release(st, instA);
    table.finish(st, 1000);
    const instB = await waitingB;
    clock.t += 200;
    table.release(st, instB);
    table.finish(st, 200);
    clock.t += 800;
    const s2 = table.takeActivity(st);
    // held and busy 1 for 200 ms of 1 s; EWMA 1000 + 0.2 × (200 − 1000) = 840; nothing held.
    assert.deepEqual(s2, {
      arrivals: 0,
      held: 0.2,
      busy: 0.2,
      durationMs: 840,
      heldNow: 0,
      periodMs: 1000,
      longRunning: { 6: 0, 60: 0 },
    });
  });

  it("counts requests running longer than each autoscaler window", async () => {
    const { table, clock } = tableAt();
    table.setFunctions([fn("f", { perInstance: 3 })]);
    table.setEndpointSlices([slice("f", ["10.0.0.1"])]);
    const st = table.get("ns", "f")!;
    table.admit(st);
    await table.acquire(st, 5000); // runs from 0
    clock.t += 50_000;
    table.admit(st);
    await table.acquire(st, 5000); // runs from 50 s
    clock.t += 11_000;
    // At 61 s: one has run 61 s (over both windows), the other 11 s (over 6 s only).
    assert.deepEqual(table.takeActivity(st).longRunning, { 6: 2, 60: 1 });
  });

  it("refuses with ConcurrencyLimit once this activator's share of max is held", () => {
    const { table } = tableAt({ share: 2 });
    table.setFunctions([fn("f", { max: 5, perInstance: 5 })]);
    const st = table.get("ns", "f")!;
    table.admit(st);
    table.admit(st);
    assert.throws(() => table.admit(st), { code: "ConcurrencyLimit" });
  });

  it("skips an instance another activator filled, and tries it again after the back-off", async () => {
    const { table, clock } = tableAt();
    table.setFunctions([fn("f")]);
    table.setEndpointSlices([slice("f", ["10.0.0.1", "10.0.0.2"])]);
    const st = table.get("ns", "f")!;
    const first = await table.acquire(st, 5000);
    // The instance said "at capacity": the request goes to the other one at once.
    table.release(st, first, false);
    table.markBusy(st, first.inst);
    const second = await table.acquire(st, 5000, true);
    assert.notEqual(second.inst.ip, first.inst.ip);
    // Both taken now (one busy elsewhere, one ours): the next request waits…
    let got: string | undefined;
    const third = table.acquire(st, 5000).then((i) => {
      got = i.inst.ip;
      return i;
    });
    await new Promise((r) => setImmediate(r));
    assert.equal(got, undefined);
    // …and gets the busy one once its 20 ms back-off is over (the table's timer re-dispatches).
    clock.t += 21;
    assert.equal((await third).inst.ip, first.inst.ip);
  });

  it("a request for a function with no instance asks for a cold start and waits", async () => {
    const { table, cold } = tableAt();
    table.setFunctions([fn("f")]);
    const st = table.get("ns", "f")!;
    const waiting = table.acquire(st, 5000);
    assert.deepEqual(cold, ["ns/f"]);
    table.setEndpointSlices([slice("f", ["10.0.0.7"])]);
    assert.equal((await waiting).inst.ip, "10.0.0.7");
  });
});

describe("FunctionTable, instance subsets across activators", () => {
  function subsetTable(place: { count: number; index: number }) {
    const current = { place };
    const table = new FunctionTable({
      maxWaiting: 10,
      maxShare: () => undefined,
      onColdRequest: () => undefined,
      place: () => current.place,
    });
    table.setFunctions([fn("f", { perInstance: 1 })]);
    return { table, current };
  }
  const ips = (n: number) => Array.from({ length: n }, (_, i) => `10.0.0.${i + 1}`);
  /** The instances the next `n` requests get, each holding its slot. */
  async function taken(table: FunctionTable, n: number): Promise<string[]> {
    const st = table.get("ns", "f")!;
    const out: string[] = [];
    for (let k = 0; k < n; k++) out.push((await table.acquire(st, 10)).inst.ip);
    return out.sort();
  }
  it("8 instances over 2 activators: the one at index 1 sends only to every other one, by address", async () => {
    const { table } = subsetTable({ count: 2, index: 1 });
    table.setEndpointSlices([slice("f", ips(8).reverse())]);
    assert.deepEqual(await taken(table, 4), ["10.0.0.2", "10.0.0.4", "10.0.0.6", "10.0.0.8"]);
  });
  it("fewer than 4 instances per activator are shared by all", async () => {
    const { table } = subsetTable({ count: 2, index: 1 });
    table.setEndpointSlices([slice("f", ips(7))]);
    assert.equal(new Set(await taken(table, 7)).size, 7);
  });
  it("when the replicas change, the subset follows at the next pick", async () => {
    const { table, current } = subsetTable({ count: 2, index: 0 });
    table.setEndpointSlices([slice("f", ips(8))]);
    current.place = { count: 1, index: 0 }; // the other activator left
    assert.equal(new Set(await taken(table, 8)).size, 8, "alone, it sends to all 8");
  });
});

describe("FunctionTable, instances that announce themselves", () => {
  /** A table whose probe answers true for the addresses in `up` (recording what it was asked). */
  function announcingTable() {
    const clock = { t: 1_000_000 };
    const probes: Array<{ ip: string; uid: string | undefined }> = [];
    const up = new Set<string>();
    const table = new FunctionTable({
      maxWaiting: 10,
      maxShare: () => undefined,
      onColdRequest: () => undefined,
      probe: async (ip, uid) => {
        probes.push({ ip, uid });
        return up.has(ip);
      },
      now: () => clock.t,
    });
    table.setFunctions([fn("f")]);
    table.setEndpointSlices([]);
    return { table, clock, probes, up };
  }
  const settle = () => new Promise((r) => setImmediate(r));

  it("an announced address is probed as its pod and served once it answers, before any slice lists it", async () => {
    const { table, probes, up } = announcingTable();
    up.add("10.0.0.7");
    assert.equal(table.announce("ns/f", "10.0.0.7", "uid-1"), true);
    await settle();
    assert.deepEqual(probes[0], { ip: "10.0.0.7", uid: "uid-1" }, "the probe checks the pod's UID");
    assert.deepEqual(
      table.get("ns", "f")!.instances.map((i) => i.ip),
      ["10.0.0.7"],
    );
  });
  it("an announcement of an unknown function is refused (false), and nothing is kept", () => {
    const { table } = announcingTable();
    assert.equal(table.announce("ns/nope", "10.0.0.7", "uid-1"), false);
  });
  it("once a slice lists the address it is the slice's: a not-ready entry keeps the probe's verdict", async () => {
    const { table, up } = announcingTable();
    up.add("10.0.0.7");
    table.announce("ns/f", "10.0.0.7", "uid-1");
    await settle();
    // The kubelet's report arrives: the slice lists the address, not ready yet (readiness period).
    table.applyEndpointSlice(slice("f", [], ["10.0.0.7"]), false);
    assert.deepEqual(
      table.get("ns", "f")!.instances.map((i) => i.ip),
      ["10.0.0.7"],
    );
    // The pod goes: the slice drops it, and nothing announced keeps it.
    table.applyEndpointSlice(slice("f", []), false);
    assert.deepEqual(table.get("ns", "f")!.instances, []);
  });
  it("an announced address that never answers is not served, and is forgotten after its TTL", async () => {
    const { table, clock, probes, up } = announcingTable();
    table.announce("ns/f", "10.0.0.9", "uid-2");
    await settle();
    assert.ok(probes.length >= 1);
    assert.deepEqual(table.get("ns", "f")!.instances, []);
    clock.t += 61_000;
    table.applyEndpointSlice(slice("f", ["10.0.0.1"]), false);
    assert.deepEqual(
      table.get("ns", "f")!.instances.map((i) => i.ip),
      ["10.0.0.1"],
    );
    // Announcing again (a new pod at that address, which answers) starts over.
    up.add("10.0.0.9");
    assert.equal(table.announce("ns/f", "10.0.0.9", "uid-3"), true);
    // The probe loop of the first announcement is still going: its next probe asks for uid-3.
    await until(() => table.get("ns", "f")!.instances.length === 2, 2000);
    assert.deepEqual(probes.at(-1), { ip: "10.0.0.9", uid: "uid-3" });
    assert.deepEqual(
      table.get("ns", "f")!.instances.map((i) => i.ip),
      ["10.0.0.1", "10.0.0.9"],
    );
  });
});

describe("FunctionTable, an instance that refused a connection", () => {
  /** A table whose probe answers true for the addresses in `up`. */
  function probingTable() {
    const up = new Set<string>();
    const probed: string[] = [];
    const table = new FunctionTable({
      maxWaiting: 10,
      maxShare: () => undefined,
      onColdRequest: () => undefined,
      probe: async (ip) => {
        probed.push(ip);
        return up.has(ip);
      },
    });
    table.setFunctions([fn("f")]);
    table.setEndpointSlices([slice("f", ["10.0.0.1"])]);
    return { table, up, probed, f: table.get("ns", "f")! };
  }

  // Seen under faults: the only instance of a function at minInstances refused one connect;
  // its slice never changed again, and every later call waited for an instance that the
  // table had dropped for good.
  it("is served again once it answers its probe, though its slice never changes", async () => {
    const { table, up, probed, f } = probingTable();
    table.markUnreachable(f, f.instances[0]!);
    assert.deepEqual(f.instances, [], "out of service at once");
    const waiting = table.acquire(f, 5000);
    await until(() => probed.length >= 2, 2000);
    assert.deepEqual(f.instances, [], "not back while its probe fails");
    up.add("10.0.0.1");
    const slot = await waiting;
    assert.equal(slot.inst.ip, "10.0.0.1", "the waiting request gets it when it answers");
  });
  // A slice update while it is ejected must not put an unproven address back.
  it("stays out through slice updates that still list it, until it answers", async () => {
    const { table, probed, f } = probingTable();
    table.markUnreachable(f, f.instances[0]!);
    table.applyEndpointSlice(slice("f", ["10.0.0.1", "10.0.0.2"]), false);
    assert.deepEqual(
      f.instances.map((i) => i.ip),
      ["10.0.0.2"],
    );
    await until(() => probed.includes("10.0.0.1"), 2000);
    assert.deepEqual(
      f.instances.map((i) => i.ip),
      ["10.0.0.2"],
    );
  });
  // The usual case: the pod is gone; once its slice drops it, it is not probed for ever.
  it("is forgotten, its probing stopped, once its slice drops it", async () => {
    const { table, up, probed, f } = probingTable();
    table.markUnreachable(f, f.instances[0]!);
    table.applyEndpointSlice(slice("f", []), false);
    await new Promise((r) => setTimeout(r, 120));
    const count = probed.length;
    assert.equal(count, 0, "not probed: its slice no longer lists it");
    // A new pod that gets the same address later is served as the slice says.
    up.add("10.0.0.1");
    table.applyEndpointSlice(slice("f", ["10.0.0.1"]), false);
    assert.deepEqual(
      f.instances.map((i) => i.ip),
      ["10.0.0.1"],
    );
  });
});

describe("FunctionTable, instances it lets go (onInstanceGone)", () => {
  // What the forwarder holds for an instance (its channel) is let go on each of these, once.
  const cases: Array<[why: string, leave: (table: FunctionTable) => void, left: string[]]> = [
    ["its slice drops one of two", (t) => t.setEndpointSlices([slice("f", ["10.0.0.2"])]), ["10.0.0.1"]],
    [
      "it refused a connection (ejected), and a slice update that drops it later is no second goodbye",
      (t) => {
        const f = t.get("ns", "f")!;
        t.markUnreachable(f, f.instances.find((i) => i.ip === "10.0.0.1")!);
        t.setEndpointSlices([slice("f", ["10.0.0.2"])]);
      },
      ["10.0.0.1"],
    ],
    ["its function is deleted: every instance", (t) => t.setFunctions([]), ["10.0.0.1", "10.0.0.2"]],
  ];
  for (const [why, leave, left] of cases)
    it(why, () => {
      const { table } = tableAt();
      table.setFunctions([fn("f")]);
      table.setEndpointSlices([slice("f", ["10.0.0.1", "10.0.0.2"])]);
      const before = [...table.get("ns", "f")!.instances];
      const told: string[] = [];
      table.onInstanceGone((inst) => told.push(inst.ip));
      leave(table);
      assert.deepEqual(told.sort(), left);
      // Marked, so a request that took its slot earlier opens no new channel to it.
      assert.deepEqual(
        before.filter((i) => i.left).map((i) => i.ip),
        left,
      );
    });
});
