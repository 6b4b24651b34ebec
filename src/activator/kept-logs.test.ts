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

  for (const [why, text] of [
    ["ASCII", "x".repeat(4096)],
    ["UTF-8 of three bytes a character: counted in bytes, as sent, not in characters", "日志".repeat(700)],
  ] as const)
    it(`large logs close a message before BATCH_BYTES, before BATCH_ENTRIES (${why})`, (t) => {
      t.mock.timers.enable({ apis: ["setTimeout"] });
      const { sent, batcher } = recording();
      const n = 10;
      for (let i = 0; i < n; i++) batcher.add("updraft.logs.ns.f", entry(`r${i}`, text));
      t.mock.timers.tick(BATCH_WAIT_MS);
      for (const m of sent)
        assert.ok(
          Buffer.byteLength(m.payload) <= BATCH_BYTES,
          `a message of ${Buffer.byteLength(m.payload)} bytes`,
        );
      assert.ok(
        sent.length > 1 && sent.every((m) => m.entries < BATCH_ENTRIES),
        "several messages, none full",
      );
      assert.deepEqual(
        sent.flatMap((m) => readEntries(m.payload).map((e) => e.requestId)),
        Array.from({ length: n }, (_, i) => `r${i}`),
      );
    });

  it("one invocation larger than BATCH_BYTES goes alone, as itself, and the batch before it first", (t) => {
    t.mock.timers.enable({ apis: ["setTimeout"] });
    const { sent, batcher } = recording();
    batcher.add("updraft.logs.ns.f", entry("small"));
    batcher.add("updraft.logs.ns.f", entry("huge", "\u0001".repeat(4096)));
    assert.deepEqual(
      sent.map((m) => [m.entries, readEntries(m.payload)[0]!.requestId]),
      [
        [1, "small"],
        [1, "huge"],
      ],
    );
    assert.ok(Buffer.byteLength(sent[1]!.payload) > BATCH_BYTES);
  });

  it("after stop(), what waits goes at once and so does every later entry (an activator draining)", (t) => {
    t.mock.timers.enable({ apis: ["setTimeout"] });
    const { sent, batcher } = recording();
    batcher.add("updraft.logs.ns.f", entry("a"));
    batcher.stop();
    batcher.add("updraft.logs.ns.f", entry("b"));
    assert.deepEqual(
      sent.map((m) => readEntries(m.payload).map((e) => e.requestId)),
      [["a"], ["b"]],
    );
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
