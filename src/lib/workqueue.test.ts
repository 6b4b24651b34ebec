import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { backoffDelay, runWorkers, WorkQueue } from "./workqueue.ts";

describe("WorkQueue", () => {
  it("de-duplicates a key added many times before it is processed", async () => {
    const q = new WorkQueue();
    q.add("a");
    q.add("a");
    q.add("b");
    assert.equal(q.length, 2);
    assert.equal(await q.get(), "a");
    assert.equal(await q.get(), "b");
  });

  it("never hands out a key that is being processed; re-adds it after done()", async () => {
    const q = new WorkQueue();
    q.add("a");
    const k = await q.get();
    q.add("a"); // changed while being processed
    assert.equal(q.length, 0, "must not be queued while processing");
    q.done(k!);
    assert.equal(q.length, 1, "processed again after the current run");
  });

  it("runWorkers with several workers never runs one key twice at once", async () => {
    const q = new WorkQueue({ baseDelayMs: 1 });
    let running = 0;
    let maxRunning = 0;
    let runs = 0;
    const done = runWorkers(
      q,
      4,
      async () => {
        running++;
        maxRunning = Math.max(maxRunning, running);
        runs++;
        await new Promise((r) => setImmediate(r));
        running--;
        return undefined;
      },
      () => undefined,
      () => false,
    );
    for (let i = 0; i < 50; i++) {
      q.add("same");
      await new Promise((r) => setImmediate(r));
    }
    // Wait until the queue drains.
    const deadline = Date.now() + 5000;
    while ((q.length > 0 || q.inFlight > 0) && Date.now() < deadline)
      await new Promise((r) => setTimeout(r, 5));
    q.shutDown();
    await done;
    assert.equal(maxRunning, 1);
    assert.ok(runs >= 2 && runs <= 50, `runs=${runs}`);
  });

  it("retries failures with back-off and stops on permanent errors", async () => {
    const q = new WorkQueue({ baseDelayMs: 1, maxDelayMs: 4 });
    const attempts = new Map<string, number>();
    const errors: Array<[string, number | undefined]> = [];
    const done = runWorkers(
      q,
      1,
      async (key) => {
        const n = (attempts.get(key) ?? 0) + 1;
        attempts.set(key, n);
        if (key === "flaky" && n < 3) throw new Error("transient");
        if (key === "bad") throw Object.assign(new Error("permanent"), { permanent: true });
        return undefined;
      },
      (key, _err, retry) => errors.push([key, retry]),
      (err) => (err as { permanent?: boolean }).permanent === true,
    );
    q.add("flaky");
    q.add("bad");
    const deadline = Date.now() + 5000;
    while ((attempts.get("flaky") ?? 0) < 3 && Date.now() < deadline)
      await new Promise((r) => setTimeout(r, 2));
    q.shutDown();
    await done;
    assert.equal(attempts.get("flaky"), 3);
    assert.equal(attempts.get("bad"), 1, "permanent errors are not retried");
    assert.deepEqual(
      errors.filter(([k]) => k === "bad"),
      [["bad", undefined]],
    );
    assert.equal(q.numRequeues("flaky"), 0, "success forgets the failures");
  });

  it("of two delayed adds for one key the sooner stands, whichever came first", async () => {
    const q = new WorkQueue();
    // A long back-off first, then a short look-again: the key comes after the short one.
    q.addAfter("a", 60_000);
    q.addAfter("a", 5);
    // A short one first, then a long one: the short one is kept.
    q.addAfter("b", 5);
    q.addAfter("b", 60_000);
    const got = await Promise.race([
      Promise.all([q.get(), q.get()]),
      new Promise((r) => setTimeout(() => r("timed out"), 5_000)),
    ]);
    assert.deepEqual(got, ["a", "b"]);
    q.shutDown();
  });

  it("backoffDelay doubles from the base and is capped", () => {
    const cases: Array<[number, number]> = [
      [0, 100],
      [1, 200],
      [4, 1600],
      [12, 300_000],
    ];
    for (const [failures, want] of cases)
      assert.equal(backoffDelay(failures, 100, 300_000), want, `failures=${failures}`);
  });
});
