import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { ConditionSet } from "./conditions.ts";

const t0 = new Date("2026-01-01T00:00:00Z");
const t1 = new Date("2026-01-01T00:05:00Z");

describe("ConditionSet", () => {
  it("keeps lastTransitionTime when the status does not change, so status stays equal", () => {
    const first = new ConditionSet([], 1, () => t0);
    first.markTrue("Ready", "Ready");
    const second = new ConditionSet(first.list([]), 1, () => t1);
    second.markTrue("Ready", "Ready");
    assert.equal(second.get("Ready")?.lastTransitionTime, t0.toISOString());
    assert.deepEqual(second.changes, []);
  });
  it("moves lastTransitionTime when the status changes and records the change", () => {
    const first = new ConditionSet([], 1, () => t0);
    first.markTrue("Ready", "Ready");
    const second = new ConditionSet(first.list([]), 2, () => t1);
    second.markFalse("Ready", "Broken", "why");
    assert.equal(second.get("Ready")?.lastTransitionTime, t1.toISOString());
    assert.equal(second.get("Ready")?.observedGeneration, 2);
    assert.deepEqual(second.changes, [
      { type: "Ready", from: "True", to: "False", reason: "Broken", message: "why" },
    ]);
  });
  it("summarize: all dependents True makes the happy condition True", () => {
    const s = new ConditionSet([], 1, () => t0);
    s.markTrue("A", "ok");
    s.markTrue("B", "ok");
    s.summarize("Ready", ["A", "B"]);
    assert.equal(s.get("Ready")?.status, "True");
  });
  it("summarize: a False dependent wins over an Unknown one and lends its reason", () => {
    const s = new ConditionSet([], 1, () => t0);
    s.markUnknown("A", "Waiting");
    s.markFalse("B", "Missing", "no code");
    s.summarize("Ready", ["A", "B"]);
    assert.deepEqual([s.get("Ready")?.status, s.get("Ready")?.reason], ["False", "Missing"]);
  });
  it("summarize: a dependent never marked counts as Unknown", () => {
    const s = new ConditionSet([], 1, () => t0);
    s.markTrue("A", "ok");
    s.summarize("Ready", ["A", "B"]);
    assert.equal(s.get("Ready")?.status, "Unknown");
  });
  it("list orders the given types first", () => {
    const s = new ConditionSet([], 1, () => t0);
    s.markTrue("Z", "ok");
    s.markTrue("Ready", "ok");
    s.markTrue("A", "ok");
    assert.deepEqual(
      s.list(["Ready"]).map((c) => c.type),
      ["Ready", "A", "Z"],
    );
  });
});
