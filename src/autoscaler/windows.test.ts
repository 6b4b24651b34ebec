import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { ConcurrencyWindows } from "./windows.ts";

describe("ConcurrencyWindows", () => {
  it("sums activators per second and averages over the observed part of the window", () => {
    const w = new ConcurrencyWindows();
    for (let s = 0; s < 3; s++) {
      w.record("a", 2, s * 1000 + 100);
      w.record("b", 1, s * 1000 + 200);
    }
    assert.equal(w.average(6000, 2500), 3);
  });
  it("a second re-reported by the same activator counts once (latest wins)", () => {
    const w = new ConcurrencyWindows();
    w.record("a", 5, 1000);
    w.record("a", 2, 1500);
    assert.equal(w.average(1000, 1900), 2);
  });
  it("silent seconds count as zero", () => {
    const w = new ConcurrencyWindows();
    w.record("a", 6, 0);
    assert.equal(w.average(6000, 5500), 1); // 6 in the first of 6 seconds
  });
  it("forgets seconds older than it keeps", () => {
    const w = new ConcurrencyWindows(10_000);
    w.record("a", 100, 0);
    w.record("a", 0, 20_000);
    assert.equal(w.average(60_000, 20_000), 0);
  });
});
