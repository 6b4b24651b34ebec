import assert from "node:assert/strict";
import { describe, it } from "node:test";
import type { V1ContainerStatus, V1Deployment, V1Pod } from "@kubernetes/client-node";
import { activeVerdict, deploymentVerdict, instancesVerdict, rolloutComplete } from "./status.ts";

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

describe("instancesVerdict", () => {
  const container = (state: V1ContainerStatus["state"], last?: V1ContainerStatus["lastState"]) => ({
    name: "function",
    image: "img",
    imageID: "",
    ready: false,
    restartCount: last ? 3 : 0,
    state,
    ...(last ? { lastState: last } : {}),
  });
  const pod = (name: string, status: V1Pod["status"], deleting = false): V1Pod => ({
    metadata: { name, ...(deleting ? { deletionTimestamp: new Date("2026-01-01T00:00:00Z") } : {}) },
    status,
  });
  const waiting = (reason: string, message?: string) =>
    container({ waiting: { reason, ...(message ? { message } : {}) } });
  const cases: Array<{ why: string; pods: V1Pod[]; want: [string, string, string] }> = [
    { why: "at zero there is nothing to judge", pods: [], want: ["True", "Healthy", ""] },
    {
      why: "a starting pod is on its way, not failing",
      pods: [pod("p1", { containerStatuses: [waiting("ContainerCreating")] })],
      want: ["True", "Healthy", ""],
    },
    {
      why: "a missing Secret (credentialsSecret, valueFrom) is said with the kubelet's words",
      pods: [
        pod("p1", { containerStatuses: [waiting("CreateContainerConfigError", 'secret "role" not found')] }),
      ],
      want: [
        "False",
        "CreateContainerConfigError",
        'instance p1: container function: secret "role" not found',
      ],
    },
    {
      why: "a crash loop says the exit that caused it, not the back-off delay that changes at each retry",
      pods: [
        pod("p1", {
          containerStatuses: [
            container(
              {
                waiting: { reason: "CrashLoopBackOff", message: "back-off 40s restarting failed container" },
              },
              { terminated: { exitCode: 137, reason: "OOMKilled" } },
            ),
          ],
        }),
      ],
      want: [
        "False",
        "CrashLoopBackOff",
        "instance p1: container function: exited with code 137 (OOMKilled)",
      ],
    },
    {
      why: "a wrong image of an image function",
      pods: [
        pod("p1", { containerStatuses: [waiting("ImagePullBackOff", 'Back-off pulling image "nope"')] }),
      ],
      want: ["False", "ImagePullBackOff", 'instance p1: container function: Back-off pulling image "nope"'],
    },
    {
      why: "a pod no node can take (memory over every node's)",
      pods: [
        pod("p1", {
          conditions: [
            {
              type: "PodScheduled",
              status: "False",
              reason: "Unschedulable",
              message: "0/1 nodes are available: 1 Insufficient memory.",
            },
          ],
        }),
      ],
      want: ["False", "Unschedulable", "instance p1: 0/1 nodes are available: 1 Insufficient memory."],
    },
    {
      why: "a pod being deleted (an old version rolled away) is not judged",
      pods: [pod("p1", { containerStatuses: [waiting("CrashLoopBackOff")] }, true)],
      want: ["True", "Healthy", ""],
    },
    {
      why: "of two failing pods the first by name speaks, whatever order the cache lists them in",
      pods: [
        pod("p2", { containerStatuses: [waiting("ErrImagePull", "two")] }),
        pod("p1", { containerStatuses: [waiting("CreateContainerError", "one")] }),
      ],
      want: ["False", "CreateContainerError", "instance p1: container function: one"],
    },
  ];
  for (const c of cases)
    it(c.why, () => {
      const v = instancesVerdict(c.pods);
      assert.deepEqual([v.status, v.reason, v.message], c.want);
    });
});
