import assert from "node:assert/strict";
import { describe, it } from "node:test";
import type { V1Deployment } from "@kubernetes/client-node";
import { currentReplicas } from "./autoscaler.ts";

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
