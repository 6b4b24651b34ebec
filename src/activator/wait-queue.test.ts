import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { WaitQueue } from "./wait-queue.ts";

describe("WaitQueue", () => {
  it("keeps arrival order; unshift puts a request that waited longest in front", () => {
    const q = new WaitQueue<string>();
    q.push("b");
    q.push("c");
    q.unshift("a");
    assert.deepEqual(q.drain(), ["a", "b", "c"]);
    assert.equal(q.length, 0);
  });
  it("removes a waiter from anywhere, once (a time-out after it was served is a no-op)", () => {
    const q = new WaitQueue<number>();
    const t = [1, 2, 3, 4].map((n) => q.push(n));
    assert.equal(q.remove(t[1]!), true);
    assert.equal(q.remove(t[3]!), true);
    assert.equal(q.remove(t[1]!), false);
    assert.equal(q.length, 2);
    assert.equal(q.shift(), 1);
    assert.equal(q.remove(t[0]!), false, "already taken from the front");
    assert.deepEqual(q.drain(), [3]);
  });
  it("the only element removed leaves an empty queue that works", () => {
    const q = new WaitQueue<number>();
    const t = q.push(1);
    assert.equal(q.remove(t), true);
    assert.equal(q.shift(), undefined);
    q.push(2);
    assert.deepEqual(q.drain(), [2]);
  });
  it("100,000 waiters that all time out are removed in linear time", () => {
    const q = new WaitQueue<number>();
    const tickets = Array.from({ length: 100_000 }, (_, i) => q.push(i));
    // Every second one, then the rest: each removal is O(1) (an array's filter would be
    // 5 × 10⁹ element visits here).
    for (let i = 0; i < tickets.length; i += 2) q.remove(tickets[i]!);
    for (let i = 1; i < tickets.length; i += 2) q.remove(tickets[i]!);
    assert.equal(q.length, 0);
  });
});
