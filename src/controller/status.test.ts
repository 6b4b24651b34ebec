import assert from "node:assert/strict";
import { describe, it } from "node:test";
import type { V1Deployment } from "@kubernetes/client-node";
import { activeVerdict, deploymentVerdict, rolloutComplete } from "./status.ts";

const dep = (spec: number, status: V1Deployment["status"], generation = 1): V1Deployment => ({
  metadata: { generation },
  spec: { replicas: spec, selector: {}, template: {} },
  status,
});

describe("deploymentVerdict", () => {
  const cases: Array<{ why: string; d: V1Deployment | undefined; want: [string, string] }> = [
    { why: "no Deployment yet is unknown, not failed", d: undefined, want: ["Unknown", "Deploying"] },
    {
      why: "the Deployment controller has not seen the latest generation",
      d: dep(0, { observedGeneration: 1 }, 2),
      want: ["Unknown", "Deploying"],
    },
    {
      why: "a function at zero is deployed and ready to be woken",
      d: dep(0, { observedGeneration: 1 }),
      want: ["True", "Deployed"],
    },
    {
      why: "a failed rollout makes the function not ready",
      d: dep(1, {
        observedGeneration: 1,
        conditions: [
          { type: "Progressing", status: "False", reason: "ProgressDeadlineExceeded", message: "m" },
        ],
      }),
      want: ["False", "ProgressDeadlineExceeded"],
    },
    {
      why: "replica failures (e.g. quota) are surfaced",
      d: dep(1, {
        observedGeneration: 1,
        conditions: [{ type: "ReplicaFailure", status: "True", message: "quota" }],
      }),
      want: ["False", "ReplicaFailure"],
    },
    {
      why: "a rollout in progress keeps the function ready: old instances still serve",
      d: dep(2, { observedGeneration: 1, replicas: 3, updatedReplicas: 1 }),
      want: ["True", "RollingOut"],
    },
    {
      why: "all instances updated",
      d: dep(2, { observedGeneration: 1, replicas: 2, updatedReplicas: 2, readyReplicas: 2 }),
      want: ["True", "Deployed"],
    },
  ];
  for (const c of cases) {
    it(c.why, () => {
      const v = deploymentVerdict(c.d);
      assert.deepEqual([v.status, v.reason], c.want);
    });
  }
});

describe("activeVerdict", () => {
  const cases: Array<{ why: string; d: V1Deployment | undefined; want: string }> = [
    { why: "no Deployment means nothing runs", d: undefined, want: "ScaledToZero" },
    { why: "zero replicas is scaled to zero", d: dep(0, {}), want: "ScaledToZero" },
    {
      why: "scaled up but nothing ready yet is activating (cold start)",
      d: dep(1, { readyReplicas: 0 }),
      want: "Activating",
    },
    { why: "a ready instance makes it active", d: dep(1, { readyReplicas: 1 }), want: "Active" },
    {
      why: "still-ready instances draining after scale to zero count as active",
      d: dep(0, { readyReplicas: 1 }),
      want: "Active",
    },
  ];
  for (const c of cases) it(c.why, () => assert.equal(activeVerdict(c.d).reason, c.want));
});

describe("rolloutComplete", () => {
  it("is false while old pods remain", () => {
    assert.equal(rolloutComplete(dep(1, { observedGeneration: 1, replicas: 2, updatedReplicas: 1 })), false);
  });
  it("is false before the Deployment controller observed the generation", () => {
    assert.equal(rolloutComplete(dep(0, { observedGeneration: 1 }, 2)), false);
  });
  it("is true at zero replicas once observed", () => {
    assert.equal(rolloutComplete(dep(0, { observedGeneration: 1 })), true);
  });
});
