import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { decideReplicas, type ScaleInput } from "./decide.ts";

const NOW = 1_000_000;
const input = (
  over: Omit<Partial<ScaleInput>, "spec"> & { spec?: Partial<ScaleInput["spec"]> } = {},
): ScaleInput => ({
  replicas: 1,
  readyReplicas: 1,
  stableConcurrency: 0,
  panicConcurrency: 0,
  lastActivityMs: NOW,
  inFlight: 0,
  activationRequested: false,
  nowMs: NOW,
  state: {},
  ...over,
  spec: {
    perInstance: 1,
    targetUtilization: 0.7,
    minInstances: 0,
    provisioned: 0,
    scaleToZeroAfterMs: 30_000,
    ...over.spec,
  },
});

describe("decideReplicas", () => {
  const cases: Array<{ why: string; in: ScaleInput; want: [number, string] }> = [
    {
      why: "steady load: ceil(concurrency / (perInstance × target)); 14 / (4 × 0.7) = 5",
      in: input({
        replicas: 5,
        readyReplicas: 5,
        stableConcurrency: 14,
        panicConcurrency: 14,
        spec: { perInstance: 4 },
      }),
      want: [5, "Steady"],
    },
    {
      why: "more load in the stable window scales up (2.8 / 0.7 = 4; the panic window asks only 1.3× ready)",
      in: input({
        replicas: 3,
        readyReplicas: 3,
        stableConcurrency: 2.8,
        panicConcurrency: 2.8,
        spec: { perInstance: 1 },
      }),
      want: [4, "ScaleUp"],
    },
    {
      why: "10 clients in a closed loop on 2 ready instances of 2, both full for 3 s: what waits is demand, straight to ceil(10 / 0.7) = 15 in panic",
      in: input({
        replicas: 2,
        readyReplicas: 2,
        stableConcurrency: 2,
        panicConcurrency: 2,
        stableClosedLoopConcurrency: 4,
        panicClosedLoopConcurrency: 10,
        recentBusy: 1.97,
        state: { settledSinceMs: NOW - 3000 },
        spec: { perInstance: 1 },
      }),
      want: [15, "PanicScaleUp"],
    },
    {
      why: "the same windows half a second after the last instance became ready: the last 3 s still hold a cold start's queue being worked off (CI: 2/s of 1 s asked for more than 4 of 3), R·D = 2 decides",
      in: input({
        replicas: 3,
        readyReplicas: 3,
        stableConcurrency: 2,
        panicConcurrency: 2,
        stableClosedLoopConcurrency: 6.5,
        panicClosedLoopConcurrency: 6.5,
        recentBusy: 2.7,
        state: { settledSinceMs: NOW - 500 },
        spec: { perInstance: 1 },
      }),
      want: [3, "Steady"],
    },
    {
      why: "the same windows while instances start (4 ready of 6): the waiting is a cold start's, R·D = 4 decides (6 stays)",
      in: input({
        replicas: 6,
        readyReplicas: 4,
        stableConcurrency: 4,
        panicConcurrency: 4,
        stableClosedLoopConcurrency: 10,
        panicClosedLoopConcurrency: 10,
        recentBusy: 4,
        spec: { perInstance: 1 },
      }),
      want: [6, "Steady"],
    },
    {
      why: "the same while instances start, but the arrivals rose with the one that joined: a loop, its waiting is demand (10 → 15)",
      in: input({
        replicas: 3,
        readyReplicas: 2,
        stableConcurrency: 2.5,
        panicConcurrency: 2.5,
        stableClosedLoopConcurrency: 10,
        panicClosedLoopConcurrency: 10,
        recentBusy: 2.5,
        arrivalsFollowInstances: true,
        spec: { perInstance: 1 },
      }),
      want: [15, "PanicScaleUp"],
    },
    {
      why: "a steady open load with slots free (2 busy of 3) that looks like a loop is not one: R·D = 2 keeps 3",
      in: input({
        replicas: 3,
        readyReplicas: 3,
        stableConcurrency: 2,
        panicConcurrency: 2,
        stableClosedLoopConcurrency: 7,
        panicClosedLoopConcurrency: 7,
        recentBusy: 2,
        spec: { perInstance: 1 },
      }),
      want: [3, "Steady"],
    },
    {
      why: "a request waiting at zero wakes it even when the activation call was lost (the windows read 0: nothing ran)",
      in: input({ replicas: 0, readyReplicas: 0, inFlight: 1, lastActivityMs: NOW }),
      want: [1, "ScaleFromZero"],
    },
    {
      why: "in panic, within the 10 % tolerance nothing changes: 2.17 is 1.03× what 3 instances at 0.7 are sized for (ceil would say 4)",
      in: input({
        replicas: 3,
        readyReplicas: 3,
        stableConcurrency: 2.17,
        panicConcurrency: 2.17,
        state: { panicSinceMs: NOW - 5000, lastPanicTriggerMs: NOW - 5000 },
      }),
      want: [3, "Steady"],
    },
    {
      why: "in panic, past the tolerance it scales: 2.35 is 1.12× what 3 instances are sized for → ceil(3.36) = 4",
      in: input({
        replicas: 3,
        readyReplicas: 3,
        stableConcurrency: 2.35,
        panicConcurrency: 2.35,
        state: { panicSinceMs: NOW - 5000, lastPanicTriggerMs: NOW - 5000 },
      }),
      want: [4, "PanicScaleUp"],
    },
    {
      why: "outside panic the formula holds exactly: 6.0 at 0.7 → ceil(8.57) = 9, though 8 are within 10 %",
      in: input({ replicas: 8, readyReplicas: 8, stableConcurrency: 6, panicConcurrency: 6 }),
      want: [9, "ScaleUp"],
    },
    {
      why: "scale-down follows the stable window: 1.3 → ceil(1.86) = 2",
      in: input({ replicas: 3, readyReplicas: 3, stableConcurrency: 1.3, panicConcurrency: 1.3 }),
      want: [2, "ScaleDown"],
    },
    {
      why: "a spike (panic window ≥ 2× ready) follows the panic window at once",
      in: input({
        replicas: 1,
        readyReplicas: 1,
        stableConcurrency: 1,
        panicConcurrency: 7,
        spec: { perInstance: 1, targetUtilization: 1 },
      }),
      want: [7, "PanicScaleUp"],
    },
    {
      why: "in panic, never scale down even if the panic window dropped",
      in: input({
        replicas: 8,
        readyReplicas: 8,
        stableConcurrency: 1,
        panicConcurrency: 1,
        state: { panicSinceMs: NOW - 10_000, lastPanicTriggerMs: NOW - 10_000 },
      }),
      want: [8, "Steady"],
    },
    {
      why: "panic ends after a calm stable window; then scale-down is limited to ÷2",
      in: input({
        replicas: 8,
        readyReplicas: 8,
        stableConcurrency: 0.7,
        panicConcurrency: 0.7,
        state: { panicSinceMs: NOW - 120_000, lastPanicTriggerMs: NOW - 61_000 },
      }),
      want: [4, "ScaleDown"],
    },
    {
      why: "a request waiting at zero wakes one instance at once",
      in: input({ replicas: 0, readyReplicas: 0, activationRequested: true }),
      want: [1, "ScaleFromZero"],
    },
    {
      why: "idle past the grace period goes to zero, whatever the windows remember",
      in: input({ replicas: 3, readyReplicas: 3, stableConcurrency: 0.5, lastActivityMs: NOW - 30_001 }),
      want: [0, "ScaleToZero"],
    },
    {
      why: "idle past the grace period ends a panic and goes to zero",
      in: input({
        replicas: 15,
        readyReplicas: 15,
        lastActivityMs: NOW - 30_001,
        state: { panicSinceMs: NOW - 40_000, lastPanicTriggerMs: NOW - 31_000 },
      }),
      want: [0, "ScaleToZero"],
    },
    {
      why: "idle but within the grace period keeps one warm",
      in: input({ replicas: 1, readyReplicas: 1, lastActivityMs: NOW - 29_000 }),
      want: [1, "Steady"],
    },
    {
      why: "work in flight is never scaled away",
      in: input({ replicas: 1, inFlight: 1, lastActivityMs: NOW - 600_000 }),
      want: [1, "Steady"],
    },
    {
      why: "idle goes to the floor max(minInstances, provisioned), not below",
      in: input({
        replicas: 4,
        readyReplicas: 4,
        lastActivityMs: 0,
        spec: { provisioned: 2, minInstances: 1 },
      }),
      want: [2, "ScaleToFloor"],
    },
    {
      why: "provisioned instances are kept through idle periods",
      in: input({ replicas: 2, readyReplicas: 2, lastActivityMs: 0, spec: { provisioned: 2 } }),
      want: [2, "Steady"],
    },
    {
      why: "below the floor goes up to it",
      in: input({ replicas: 0, readyReplicas: 0, lastActivityMs: 0, spec: { provisioned: 2 } }),
      want: [2, "ScaleToFloor"],
    },
    {
      why: "maxInstances caps the answer",
      in: input({
        replicas: 2,
        readyReplicas: 2,
        stableConcurrency: 70,
        panicConcurrency: 70,
        spec: { maxInstances: 5 },
      }),
      want: [5, "PanicScaleUp"],
    },
    {
      why: "concurrency.max caps instances at ceil(max / perInstance): 10 / 4 → 3",
      in: input({
        replicas: 2,
        readyReplicas: 2,
        stableConcurrency: 70,
        panicConcurrency: 70,
        spec: { perInstance: 4, maxConcurrency: 10 },
      }),
      want: [3, "PanicScaleUp"],
    },
    {
      why: "scale-up is limited to ×1000 of what is ready",
      in: input({
        replicas: 1,
        readyReplicas: 1,
        stableConcurrency: 5000,
        panicConcurrency: 5000,
        spec: { targetUtilization: 1 },
      }),
      want: [1000, "PanicScaleUp"],
    },
  ];
  for (const c of cases) {
    it(c.why, () => {
      const d = decideReplicas(c.in);
      assert.deepEqual([d.replicas, d.reason], c.want);
    });
  }
  it("entering panic records when; the state carries it to the next decision", () => {
    const d = decideReplicas(input({ replicas: 1, readyReplicas: 1, panicConcurrency: 10 }));
    assert.equal(d.panic, true);
    assert.equal(d.state.panicSinceMs, NOW);
  });
});

describe("decideReplicas: settled since", () => {
  it("counts from the first decision that sees every wanted instance ready, and forgets it when one starts", () => {
    const first = decideReplicas(
      input({ replicas: 3, readyReplicas: 3, stableConcurrency: 2, panicConcurrency: 2 }),
    );
    assert.equal(first.state.settledSinceMs, NOW, "settled now");
    const later = decideReplicas(
      input({
        replicas: 3,
        readyReplicas: 3,
        stableConcurrency: 2,
        panicConcurrency: 2,
        nowMs: NOW + 1000,
        state: first.state,
      }),
    );
    assert.equal(later.state.settledSinceMs, NOW, "kept, not moved to the later decision");
    const starting = decideReplicas(
      input({
        replicas: 4,
        readyReplicas: 3,
        stableConcurrency: 2,
        panicConcurrency: 2,
        nowMs: NOW + 2000,
        state: later.state,
      }),
    );
    assert.equal(starting.state.settledSinceMs, undefined, "an instance is starting");
  });
  it("a loop that has been settled and full for 3 s is seen; the same a second earlier is not", () => {
    const loop = (settledForMs: number) =>
      decideReplicas(
        input({
          replicas: 2,
          readyReplicas: 2,
          stableConcurrency: 2,
          panicConcurrency: 2,
          panicClosedLoopConcurrency: 10,
          recentBusy: 2,
          state: { settledSinceMs: NOW - settledForMs },
        }),
      ).replicas;
    assert.equal(loop(3000), 15);
    assert.equal(loop(2000), 3);
  });
});
