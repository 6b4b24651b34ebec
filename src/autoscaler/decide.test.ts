import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { decideReplicas, type ScaleInput } from "./decide.ts";

const base: ScaleInput = {
  replicas: 0,
  minInstances: 0,
  provisioned: 0,
  scaleToZeroAfterMs: 30_000,
  lastActivityMs: 0,
  inFlight: 0,
  activationRequested: false,
  nowMs: 100_000,
};

describe("decideReplicas", () => {
  const cases: Array<{ why: string; in: Partial<ScaleInput>; want: [number, string] }> = [
    {
      why: "a request waiting at zero wakes one instance at once",
      in: { activationRequested: true, lastActivityMs: 100_000 },
      want: [1, "ScaleFromZero"],
    },
    {
      why: "waking respects a larger floor",
      in: { activationRequested: true, minInstances: 3 },
      want: [3, "ScaleFromZero"],
    },
    {
      why: "waking respects maxInstances",
      in: { activationRequested: true, minInstances: 3, maxInstances: 2 },
      want: [2, "ScaleFromZero"],
    },
    {
      why: "idle past the grace period goes to zero",
      in: { replicas: 1, lastActivityMs: 69_999 },
      want: [0, "ScaleToZero"],
    },
    {
      why: "idle but within the grace period stays",
      in: { replicas: 1, lastActivityMs: 70_001 },
      want: [1, "Steady"],
    },
    {
      why: "work in flight is never scaled away, however old the last request",
      in: { replicas: 1, inFlight: 1 },
      want: [1, "Steady"],
    },
    {
      why: "idle goes down to the floor, not below",
      in: { replicas: 3, provisioned: 2 },
      want: [2, "ScaleToFloor"],
    },
    {
      why: "below the floor (provisioned raised) goes up to it",
      in: { replicas: 0, provisioned: 2 },
      want: [2, "BelowFloor"],
    },
    { why: "at zero with no request stays at zero", in: {}, want: [0, "Steady"] },
  ];
  for (const c of cases) {
    it(c.why, () => {
      const d = decideReplicas({ ...base, ...c.in });
      assert.deepEqual([d.replicas, d.reason], c.want);
    });
  }
});
