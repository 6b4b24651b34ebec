import assert from "node:assert/strict";
import { describe, it } from "node:test";
import type { Condition } from "../lib/conditions.ts";
import { SHIM_START_FAILURES } from "../protocol/termination.ts";
import { UNSERVABLE_REASONS, type UpdraftFunction, unservable } from "./v1alpha1.ts";

const fn = (generation: number, observedGeneration: number | undefined, conditions: Condition[]) =>
  ({
    apiVersion: "updraft.dev/v1alpha1",
    kind: "Function",
    metadata: { name: "f", namespace: "ns", generation },
    spec: { runtime: "python3.11", handler: "index.main_handler", code: { configMapRef: { name: "c" } } },
    ...(observedGeneration === undefined ? {} : { status: { observedGeneration, conditions } }),
  }) as UpdraftFunction;

const missing: Condition = {
  type: "CodeReady",
  status: "False",
  reason: "ConfigMapNotFound",
  message: "ConfigMap c not found",
};

describe("unservable", () => {
  const table: Array<{ why: string; f: UpdraftFunction; want: string | undefined }> = [
    {
      why: "its ConfigMap is missing: no instance can start",
      f: fn(1, 1, [missing]),
      want: "ConfigMapNotFound",
    },
    {
      why: "a Deployment of its name is someone else's",
      f: fn(2, 2, [{ type: "DeploymentReady", status: "False", reason: "NotOwned", message: "x" }]),
      want: "NotOwned",
    },
    {
      why: "the status is of an older spec: the one just applied may name a ConfigMap that exists",
      f: fn(2, 1, [missing]),
      want: undefined,
    },
    { why: "no status yet: the controller has not looked", f: fn(1, undefined, []), want: undefined },
    {
      why: "a Deployment still rolling out will have instances",
      f: fn(1, 1, [{ type: "DeploymentReady", status: "False", reason: "Deploying", message: "" }]),
      want: undefined,
    },
    {
      why: "an instance waits for a Secret it reads (credentialsSecret): none can start until it exists",
      f: fn(1, 1, [
        {
          type: "InstancesHealthy",
          status: "False",
          reason: "CreateContainerConfigError",
          message: 'instance p: container function: secret "role" not found',
        },
      ]),
      want: "CreateContainerConfigError",
    },
    {
      why: "a crash loop may pass (an instance that ran out of memory once): calls still wait",
      f: fn(1, 1, [{ type: "InstancesHealthy", status: "False", reason: "CrashLoopBackOff", message: "" }]),
      want: undefined,
    },
    {
      why: "an instance's package cannot be downloaded (the shim's coded reason): every restart fails alike until someone acts",
      f: fn(1, 1, [
        { type: "InstancesHealthy", status: "False", reason: "CodeDownloadFailed", message: "HTTP 404" },
      ]),
      want: "CodeDownloadFailed",
    },
    {
      why: "the same while the pod is young (Unknown): calls wait for the kubelet's retry",
      f: fn(1, 1, [
        { type: "InstancesHealthy", status: "Unknown", reason: "CodeDownloadFailed", message: "HTTP 404" },
      ]),
      want: undefined,
    },
    {
      why: "ScaledToZero is not a fault: the next call wakes it",
      f: fn(1, 1, [{ type: "Active", status: "False", reason: "ScaledToZero", message: "" }]),
      want: undefined,
    },
  ];
  for (const c of table) it(c.why, () => assert.equal(unservable(c.f)?.reason, c.want));

  it("every code the shim exits with at start is a reason calls are refused for", () => {
    for (const code of SHIM_START_FAILURES) assert.ok(UNSERVABLE_REASONS.has(code), code);
  });
});
