import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { parseControllerConfig } from "./config.ts";

describe("parseControllerConfig", () => {
  it("has working defaults", () => {
    const cfg = parseControllerConfig({});
    assert.equal(cfg.workers, 4);
    assert.equal(cfg.leaderElect, true);
    assert.equal(cfg.leaseNamespace, "updraft-system");
  });
  it("reads the warm pools: namespaces, sizes per runtime, memory; none by default", () => {
    assert.deepEqual(parseControllerConfig({}).warmPool, { namespaces: [], sizes: {}, memoryMB: 128 });
    assert.deepEqual(
      parseControllerConfig({
        UPDRAFT_WARM_POOL_NAMESPACES: "team-a, team-b",
        UPDRAFT_WARM_POOL_SIZES: "nodejs24=2,python3.11=0",
        UPDRAFT_WARM_POOL_MEMORY_MB: "256",
      }).warmPool,
      { namespaces: ["team-a", "team-b"], sizes: { nodejs24: 2, "python3.11": 0 }, memoryMB: 256 },
    );
  });
  it("reads every key", () => {
    const cfg = parseControllerConfig({
      UPDRAFT_WORKERS: "8",
      UPDRAFT_LEADER_ELECT: "false",
      UPDRAFT_RESYNC_SECONDS: "5",
      POD_NAME: "c-1",
      UPDRAFT_ACTIVATOR_URL: "http://a:1",
    });
    assert.deepEqual(
      [cfg.workers, cfg.leaderElect, cfg.resyncSeconds, cfg.identity, cfg.activatorUrl],
      [8, false, 5, "c-1", "http://a:1"],
    );
  });
  const bad: Array<[Record<string, string>, string]> = [
    [{ UPDRAFT_WORKERS: "zero" }, "UPDRAFT_WORKERS"],
    [{ UPDRAFT_WORKERS: "0" }, "UPDRAFT_WORKERS"],
    [{ UPDRAFT_METRICS_PORT: "70000" }, "UPDRAFT_METRICS_PORT"],
    [{ UPDRAFT_LEADER_ELECT: "yes" }, "UPDRAFT_LEADER_ELECT"],
    [{ LOG_LEVEL: "verbose" }, "LOG_LEVEL"],
    [{ UPDRAFT_ACTIVATOR_URL: "activator:8080" }, "UPDRAFT_ACTIVATOR_URL"],
    [{ UPDRAFT_WARM_POOL_NAMESPACES: "Team_A" }, "UPDRAFT_WARM_POOL_NAMESPACES"],
    [{ UPDRAFT_WARM_POOL_SIZES: "cobol=1" }, "UPDRAFT_WARM_POOL_SIZES"],
    [{ UPDRAFT_WARM_POOL_SIZES: "nodejs24" }, "UPDRAFT_WARM_POOL_SIZES"],
    [{ UPDRAFT_WARM_POOL_SIZES: "nodejs24=500" }, "UPDRAFT_WARM_POOL_SIZES"],
    [{ UPDRAFT_WARM_POOL_MEMORY_MB: "32" }, "UPDRAFT_WARM_POOL_MEMORY_MB"],
  ];
  for (const [env, key] of bad) {
    it(`refuses a bad ${key} and names it`, () => {
      assert.throws(
        () => parseControllerConfig(env),
        (err: Error) => err.message.includes(key),
      );
    });
  }
});
