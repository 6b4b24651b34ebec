import assert from "node:assert/strict";
import { describe, it } from "node:test";
import type { V1Deployment } from "@kubernetes/client-node";
import { silentLogger } from "../lib/logger.ts";
import type { WarmPoolConfig } from "../protocol/pool.ts";
import { type BuilderConfig, makePoolDeployment } from "./builders.ts";
import { PoolReconciler } from "./pool-reconciler.ts";

const cfg = { runtimeImage: (r: string) => `reg/runtime-${r}:t`, activatorUrl: "http://a" };

/** A hand-written fake of the three writes, recording them; the cache is a plain map. */
function setup(pool: WarmPoolConfig, existing: V1Deployment[] = [], withCfg: Partial<BuilderConfig> = {}) {
  const writes: string[] = [];
  const cache = new Map(existing.map((d) => [`${d.metadata!.namespace}/${d.metadata!.name}`, d]));
  const r = new PoolReconciler({
    deployments: {
      get: (name, ns) => cache.get(`${ns}/${name}`),
      list: () => [...cache.values()],
    },
    api: {
      createDeployment: async (d) => {
        writes.push(`create ${d.metadata!.namespace}/${d.metadata!.name} ×${d.spec!.replicas}`);
        return d;
      },
      replaceDeployment: async (d) => {
        writes.push(`replace ${d.metadata!.namespace}/${d.metadata!.name} ×${d.spec!.replicas}`);
        return d;
      },
      deleteDeployment: async (ns, name) => {
        writes.push(`delete ${ns}/${name}`);
      },
      ensureSecret: async (sec) => {
        writes.push(`secret ${sec.metadata!.namespace}/${sec.metadata!.name}`);
      },
    },
    cfg: { ...cfg, ...withCfg },
    pool,
    log: silentLogger(),
  });
  return { r, writes };
}

const pool: WarmPoolConfig = {
  namespaces: ["team-a"],
  sizes: { nodejs24: 2, "python3.11": 0 },
  memoryMB: 128,
};

describe("PoolReconciler", () => {
  const cases: { why: string; key: string; existing: V1Deployment[]; want: string[] }[] = [
    {
      why: "a pool the chart asks for and that is missing is created",
      key: "team-a/nodejs24",
      existing: [],
      want: ["create team-a/updraft-pool-nodejs24 ×2"],
    },
    {
      why: "a pool as the chart asks is left alone (no write)",
      key: "team-a/nodejs24",
      existing: [makePoolDeployment("team-a", "nodejs24", 2, 128, cfg)],
      want: [],
    },
    {
      why: "a size change is written (replicas are not in the spec hash)",
      key: "team-a/nodejs24",
      existing: [makePoolDeployment("team-a", "nodejs24", 1, 128, cfg)],
      want: ["replace team-a/updraft-pool-nodejs24 ×2"],
    },
    {
      why: "a memory change rolls the pool",
      key: "team-a/nodejs24",
      existing: [makePoolDeployment("team-a", "nodejs24", 2, 256, cfg)],
      want: ["replace team-a/updraft-pool-nodejs24 ×2"],
    },
    {
      why: "a runtime at size 0 has no pool: an old one is removed",
      key: "team-a/python3.11",
      existing: [makePoolDeployment("team-a", "python3.11", 1, 128, cfg)],
      want: ["delete team-a/updraft-pool-python3-11"],
    },
    {
      why: "a namespace no longer listed loses its pool",
      key: "team-b/nodejs24",
      existing: [makePoolDeployment("team-b", "nodejs24", 2, 128, cfg)],
      want: ["delete team-b/updraft-pool-nodejs24"],
    },
  ];
  for (const c of cases)
    it(c.why, async () => {
      const { r, writes } = setup(pool, c.existing);
      await r.reconcile(c.key);
      assert.deepEqual(writes, c.want);
    });

  it("with instance keys: the pool's key Secret before its pods; a new key rolls the pool onto it", async () => {
    const keyed = (master: string) => ({
      ...cfg,
      instanceKeys: { function: () => "unused", pool: (ns: string) => `${master}:${ns}` },
    });
    const fresh = setup(pool, [], keyed("m1"));
    await fresh.r.reconcile("team-a/nodejs24");
    assert.deepEqual(fresh.writes, [
      "secret team-a/updraft-pool-key",
      "create team-a/updraft-pool-nodejs24 ×2",
    ]);
    const same = setup(pool, [makePoolDeployment("team-a", "nodejs24", 2, 128, keyed("m1"))], keyed("m1"));
    await same.r.reconcile("team-a/nodejs24");
    assert.deepEqual(same.writes, [], "no Secret read or write once converged");
    const rotated = setup(pool, [makePoolDeployment("team-a", "nodejs24", 2, 128, keyed("m1"))], keyed("m2"));
    await rotated.r.reconcile("team-a/nodejs24");
    assert.deepEqual(rotated.writes, [
      "secret team-a/updraft-pool-key",
      "replace team-a/updraft-pool-nodejs24 ×2",
    ]);
  });

  it("desiredKeys lists each namespace × runtime of size > 0", () => {
    assert.deepEqual(setup(pool).r.desiredKeys(), ["team-a/nodejs24"]);
  });
});
