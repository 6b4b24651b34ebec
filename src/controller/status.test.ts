import assert from "node:assert/strict";
import { describe, it } from "node:test";
import type {
  V1ContainerStateTerminated,
  V1ContainerStatus,
  V1Deployment,
  V1Pod,
} from "@kubernetes/client-node";
import {
  activeVerdict,
  deploymentVerdict,
  INSTANCE_FAILURE_GRACE_MS,
  instancesVerdict,
  rolloutComplete,
} from "./status.ts";

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
  // The verdict is taken at NOW; a pod made OLD ago (creationTimestamp, as the API server
  // writes it on every pod) is past the grace unless a case says otherwise.
  const NOW = new Date("2026-01-01T12:00:00Z");
  const ago = (ms: number) => new Date(NOW.getTime() - ms);
  const OLD = INSTANCE_FAILURE_GRACE_MS + 1;
  const pod = (name: string, status: V1Pod["status"], deleting = false, madeAgoMs = OLD): V1Pod => ({
    metadata: {
      name,
      creationTimestamp: ago(madeAgoMs),
      ...(deleting ? { deletionTimestamp: new Date("2026-01-01T00:00:00Z") } : {}),
    },
    status,
  });
  const waiting = (reason: string, message?: string) =>
    container({ waiting: { reason, ...(message ? { message } : {}) } });
  /** Pod p1 in a crash loop after the exit `terminated`, with the kubelet's back-off `message` if given. */
  const crashLooping = (terminated: V1ContainerStateTerminated, message?: string) =>
    pod("p1", {
      containerStatuses: [
        container(
          { waiting: { reason: "CrashLoopBackOff", ...(message ? { message } : {}) } },
          { terminated },
        ),
      ],
    });
  const cases: Array<{
    why: string;
    pods: V1Pod[];
    want: [string, string, string];
    recheckAfterMs?: number;
  }> = [
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
        crashLooping({ exitCode: 137, reason: "OOMKilled" }, "back-off 40s restarting failed container"),
      ],
      want: [
        "False",
        "CrashLoopBackOff",
        "instance p1: container function: exited with code 137 (OOMKilled)",
      ],
    },
    {
      why: "a crash loop quotes the last line the container left as its termination message (the shim's reason for exiting)",
      pods: [
        crashLooping(
          {
            exitCode: 1,
            reason: "Error",
            message: "starting\nupdraft-runtime: code package http://pkg/a.zip: HTTP 404\n\n",
          },
          "back-off 10s restarting failed container",
        ),
      ],
      want: [
        "False",
        "CrashLoopBackOff",
        "instance p1: container function: exited with code 1 (Error): updraft-runtime: code package http://pkg/a.zip: HTTP 404",
      ],
    },
    {
      why: "the shim's coded reason for an instance that cannot start names the failure in place of CrashLoopBackOff (calls are then refused at once)",
      pods: [
        crashLooping({
          exitCode: 1,
          reason: "Error",
          message:
            "updraft-runtime: CodeChecksumMismatch: code package http://pkg/a.zip: sha256 is 00, the Function says 11",
        }),
      ],
      want: [
        "False",
        "CodeChecksumMismatch",
        "instance p1: container function: exited with code 1 (Error): updraft-runtime: CodeChecksumMismatch: code package http://pkg/a.zip: sha256 is 00, the Function says 11",
      ],
    },
    {
      why: "a code the shim does not exit with at start (any other word before a colon) leaves the kubelet's reason",
      pods: [crashLooping({ exitCode: 1, message: "updraft-runtime: Error: boom" })],
      want: [
        "False",
        "CrashLoopBackOff",
        "instance p1: container function: exited with code 1: updraft-runtime: Error: boom",
      ],
    },
    {
      why: "a termination message's line is cut at 300 characters, so a long log line does not fill the status",
      pods: [crashLooping({ exitCode: 2, message: `updraft-runtime: ${"x".repeat(1000)}` })],
      want: [
        "False",
        "CrashLoopBackOff",
        `instance p1: container function: exited with code 2: updraft-runtime: ${"x".repeat(299 - "updraft-runtime: ".length)}…`,
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
    {
      why: "the kubelet's passing secret-cache error in a namespace it has just begun to watch is not a failure yet: it retries",
      pods: [
        pod(
          "p1",
          {
            containerStatuses: [
              waiting(
                "CreateContainerConfigError",
                "failed to sync secret cache: timed out waiting for the condition",
              ),
            ],
          },
          false,
          3_000,
        ),
      ],
      want: [
        "Unknown",
        "CreateContainerConfigError",
        "instance p1: container function: failed to sync secret cache: timed out waiting for the condition (being retried)",
      ],
      recheckAfterMs: INSTANCE_FAILURE_GRACE_MS - 3_000,
    },
    {
      why: "one failed pull (a registry hiccup) waits for the kubelet's next try",
      pods: [pod("p1", { containerStatuses: [waiting("ErrImagePull", "i/o timeout")] }, false, 1_000)],
      want: ["Unknown", "ErrImagePull", "instance p1: container function: i/o timeout (being retried)"],
      recheckAfterMs: INSTANCE_FAILURE_GRACE_MS - 1_000,
    },
    {
      why: "a failure that lasts the whole grace is held as one, at its last millisecond",
      pods: [
        pod(
          "p1",
          { containerStatuses: [waiting("ImagePullBackOff", 'Back-off pulling image "nope"')] },
          false,
          INSTANCE_FAILURE_GRACE_MS,
        ),
      ],
      want: ["False", "ImagePullBackOff", 'instance p1: container function: Back-off pulling image "nope"'],
    },
    {
      why: "an image name that cannot be parsed never mends: False at once",
      pods: [pod("p1", { containerStatuses: [waiting("InvalidImageName", "bad")] }, false, 0)],
      want: ["False", "InvalidImageName", "instance p1: container function: bad"],
    },
    {
      why: "a pod just scheduled-out waits for the scheduler's retry too",
      pods: [
        pod(
          "p1",
          {
            conditions: [{ type: "PodScheduled", status: "False", reason: "Unschedulable", message: "full" }],
          },
          false,
          10_000,
        ),
      ],
      want: ["Unknown", "Unschedulable", "instance p1: full (being retried)"],
      recheckAfterMs: INSTANCE_FAILURE_GRACE_MS - 10_000,
    },
    {
      why: "a held failure speaks before a young one, whatever their names",
      pods: [
        pod("p1", { containerStatuses: [waiting("ErrImagePull", "young")] }, false, 1_000),
        pod("p2", { containerStatuses: [waiting("ErrImagePull", "held")] }),
      ],
      want: ["False", "ErrImagePull", "instance p2: container function: held"],
    },
    {
      why: "of two young failures the first by name speaks, and the look again is at the sooner end of grace",
      pods: [
        pod("p2", { containerStatuses: [waiting("ErrImagePull", "two")] }, false, 20_000),
        pod("p1", { containerStatuses: [waiting("ErrImagePull", "one")] }, false, 5_000),
      ],
      want: ["Unknown", "ErrImagePull", "instance p1: container function: one (being retried)"],
      recheckAfterMs: INSTANCE_FAILURE_GRACE_MS - 20_000,
    },
    {
      why: "a log's last line (the kubelet's fallback when the shim wrote nothing) is not quoted: it may change at each restart",
      pods: [
        crashLooping({
          exitCode: 1,
          reason: "Error",
          message: "at 12:00:01 request 7f3e failed\nNode.js v24.22.3\n",
        }),
      ],
      want: ["False", "CrashLoopBackOff", "instance p1: container function: exited with code 1 (Error)"],
    },
    {
      why: "a pod made 'in the future' (the controller's clock behind the API server's) is as young as can be, not older than its grace",
      pods: [pod("p1", { containerStatuses: [waiting("ErrImagePull", "x")] }, false, -60_000)],
      want: ["Unknown", "ErrImagePull", "instance p1: container function: x (being retried)"],
      recheckAfterMs: INSTANCE_FAILURE_GRACE_MS,
    },
    {
      why: "the age is the API server's creationTimestamp, not the node's startTime (another clock)",
      pods: [
        {
          metadata: { name: "p1", creationTimestamp: ago(5_000) },
          status: { startTime: ago(OLD), containerStatuses: [waiting("ErrImagePull", "x")] },
        },
      ],
      want: ["Unknown", "ErrImagePull", "instance p1: container function: x (being retried)"],
      recheckAfterMs: INSTANCE_FAILURE_GRACE_MS - 5_000,
    },
    {
      why: "a pod with no time at all (a hand-made object) is as young as can be",
      pods: [{ metadata: { name: "p1" }, status: { containerStatuses: [waiting("ErrImagePull", "x")] } }],
      want: ["Unknown", "ErrImagePull", "instance p1: container function: x (being retried)"],
      recheckAfterMs: INSTANCE_FAILURE_GRACE_MS,
    },
  ];
  for (const c of cases)
    it(c.why, () => {
      const v = instancesVerdict(c.pods, NOW);
      assert.deepEqual([v.status, v.reason, v.message], c.want);
      assert.equal(v.recheckAfterMs, c.recheckAfterMs);
    });
});
