import assert from "node:assert/strict";
import { describe, it } from "node:test";
import type { V1Deployment } from "@kubernetes/client-node";
import { resolveFunctionSpec } from "../api/v1alpha1.ts";
import { currentReplicas, scaleMessage, scaleSpecOf } from "./autoscaler.ts";

const dep = (replicas: number, resourceVersion: string): V1Deployment => ({
  metadata: { resourceVersion },
  spec: { replicas, selector: {}, template: {} },
});

describe("currentReplicas", () => {
  const cases: Array<{
    why: string;
    d: V1Deployment;
    written?: { replicas: number; resourceVersion: string };
    want: number;
  }> = [
    { why: "nothing written: the cache", d: dep(2, "100"), want: 2 },
    {
      why: "the cache is older than our write (lagging watch): our write",
      d: dep(0, "100"),
      written: { replicas: 1, resourceVersion: "105" },
      want: 1,
    },
    {
      why: "the cache caught up with our write: the cache",
      d: dep(1, "105"),
      written: { replicas: 1, resourceVersion: "105" },
      want: 1,
    },
    {
      why: "someone scaled after our write: the cache, though it differs",
      d: dep(4, "110"),
      written: { replicas: 1, resourceVersion: "105" },
      want: 4,
    },
    {
      why: "resourceVersions that are not numbers are not compared: the cache",
      d: dep(0, "abc"),
      written: { replicas: 1, resourceVersion: "105" },
      want: 0,
    },
  ];
  for (const c of cases) it(c.why, () => assert.equal(currentReplicas(c.d, c.written), c.want));
});

describe("scaleSpecOf: the ceiling of a Function that sets none", () => {
  const spec = (scaling: Record<string, number>) =>
    resolveFunctionSpec({
      runtime: "nodejs24",
      handler: "index.main_handler",
      code: { inline: {} },
      scaling,
    } as never);
  const cases: Array<{
    why: string;
    scaling: Record<string, number>;
    dflt?: number;
    want: number | undefined;
  }> = [
    {
      why: "no maxInstances: the cluster's default caps a runaway caller",
      scaling: {},
      dflt: 100,
      want: 100,
    },
    {
      why: "the Function's own maxInstances wins, above the default too",
      scaling: { maxInstances: 500 },
      dflt: 100,
      want: 500,
    },
    { why: "…and below it", scaling: { maxInstances: 3 }, dflt: 100, want: 3 },
    { why: "no default (0 in the chart): unbounded as before", scaling: {}, want: undefined },
  ];
  for (const c of cases)
    it(c.why, () => assert.equal(scaleSpecOf(spec(c.scaling), c.dflt).maxInstances, c.want));
});

describe("scaleMessage: a scale decision as its Event says it", () => {
  it("from and to, both windows' concurrency, and panic when it is one", () => {
    const d = { replicas: 3, reason: "PanicScaleUp", panic: true, state: {} };
    assert.equal(
      scaleMessage(1, d, 2.049, 2.1),
      "1 → 3 instances: concurrency 2.05 over 60 s, 2.10 over 6 s (panic)",
    );
    assert.equal(
      scaleMessage(3, { ...d, replicas: 0, reason: "ScaleToZero", panic: false }, 0, 0),
      "3 → 0 instances: concurrency 0.00 over 60 s, 0.00 over 6 s",
    );
  });
});
