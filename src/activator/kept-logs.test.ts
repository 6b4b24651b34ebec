import assert from "node:assert/strict";
import { describe, it } from "node:test";
import type { KeptInvocation } from "../protocol/kept-logs.ts";
import { BATCH_BYTES, BATCH_ENTRIES, BATCH_WAIT_MS, LogBatcher, readEntries } from "./kept-logs.ts";

const entry = (requestId: string, log = ""): string =>
  JSON.stringify({
    requestId,
    namespace: "ns",
    function: "f",
    time: "2026-12-06T00:00:00.000Z",
    outcome: "Succeeded",
    coldStart: false,
    async: false,
    log,
  } satisfies KeptInvocation);

/** A batcher whose messages land in `sent`. */
function recording() {
  const sent: Array<{ subject: string; payload: string; entries: number }> = [];
  const batcher = new LogBatcher((subject, payload, entries) => sent.push({ subject, payload, entries }));
  return { sent, batcher };
}

describe("LogBatcher: invocations per function, gathered into messages", () => {
  it("one invocation in a quiet moment goes alone, as itself, BATCH_WAIT_MS after it", (t) => {
    t.mock.timers.enable({ apis: ["setTimeout"] });
    const { sent, batcher } = recording();
    batcher.add("updraft.logs.ns.f", entry("a"));
    t.mock.timers.tick(BATCH_WAIT_MS - 1);
    assert.equal(sent.length, 0, "it waits for company first");
    t.mock.timers.tick(1);
    assert.deepEqual(sent, [{ subject: "updraft.logs.ns.f", payload: entry("a"), entries: 1 }]);
    assert.deepEqual(
      readEntries(sent[0]!.payload).map((e) => e.requestId),
      ["a"],
    );
  });

  it("a burst fills messages of BATCH_ENTRIES at once, and the rest goes after the wait", (t) => {
    t.mock.timers.enable({ apis: ["setTimeout"] });
    const { sent, batcher } = recording();
    const n = 2 * BATCH_ENTRIES + 5;
    for (let i = 0; i < n; i++) batcher.add("updraft.logs.ns.f", entry(`r${i}`));
    assert.deepEqual(
      sent.map((m) => m.entries),
      [BATCH_ENTRIES, BATCH_ENTRIES],
      "full batches do not wait",
    );
    t.mock.timers.tick(BATCH_WAIT_MS);
    assert.deepEqual(
      sent.map((m) => m.entries),
      [BATCH_ENTRIES, BATCH_ENTRIES, 5],
    );
    const ids = sent.flatMap((m) => readEntries(m.payload).map((e) => e.requestId));
    assert.deepEqual(
      ids,
      Array.from({ length: n }, (_, i) => `r${i}`),
      "every invocation once, in order",
    );
  });

  it("large logs close a message at BATCH_BYTES, before BATCH_ENTRIES", (t) => {
    t.mock.timers.enable({ apis: ["setTimeout"] });
    const { sent, batcher } = recording();
    const big = "x".repeat(4096);
    const per = Math.ceil(BATCH_BYTES / entry("r", big).length);
    for (let i = 0; i < per; i++) batcher.add("updraft.logs.ns.f", entry(`r${i}`, big));
    assert.equal(sent.length, 1);
    assert.equal(sent[0]!.entries, per);
    assert.ok(per < BATCH_ENTRIES, `${per} entries of 4 KB reach the byte limit first`);
  });

  it("functions are batched apart: one message per subject", (t) => {
    t.mock.timers.enable({ apis: ["setTimeout"] });
    const { sent, batcher } = recording();
    batcher.add("updraft.logs.ns.f", entry("f1"));
    batcher.add("updraft.logs.ns.g", entry("g1"));
    batcher.add("updraft.logs.ns.f", entry("f2"));
    t.mock.timers.tick(BATCH_WAIT_MS);
    assert.deepEqual(
      sent.map((m) => [m.subject, readEntries(m.payload).map((e) => e.requestId)]),
      [
        ["updraft.logs.ns.f", ["f1", "f2"]],
        ["updraft.logs.ns.g", ["g1"]],
      ],
    );
  });

  it("flush sends what waits at once (an activator draining), and nothing twice", (t) => {
    t.mock.timers.enable({ apis: ["setTimeout"] });
    const { sent, batcher } = recording();
    batcher.add("updraft.logs.ns.f", entry("a"));
    batcher.add("updraft.logs.ns.f", entry("b"));
    batcher.flush();
    assert.deepEqual(
      sent.map((m) => m.entries),
      [2],
    );
    t.mock.timers.tick(BATCH_WAIT_MS);
    assert.equal(sent.length, 1, "the timer found nothing left");
  });
});

describe("readEntries", () => {
  it("reads a message of one invocation, as written before batching, and a batch", () => {
    assert.deepEqual(
      readEntries(entry("a")).map((e) => e.requestId),
      ["a"],
    );
    assert.deepEqual(
      readEntries(`[${entry("a")},${entry("b")}]`).map((e) => e.requestId),
      ["a", "b"],
    );
  });
});
