import assert from "node:assert/strict";
import { describe, it } from "node:test";
import type { V1EndpointSlice } from "@kubernetes/client-node";
import { ownerOf } from "./capacity.ts";
import { Replicas } from "./replicas.ts";

const slice = (...eps: Array<[string, boolean]>): V1EndpointSlice => ({
  addressType: "IPv4",
  endpoints: eps.map(([ip, ready]) => ({ addresses: [ip], conditions: { ready } })),
});

describe("Replicas", () => {
  it("counts the ready replicas and this one's place among them, sorted by address", () => {
    const r = new Replicas("10.0.0.9");
    r.setSlices([slice(["10.0.0.9", true], ["10.0.0.5", true], ["10.0.0.7", false])]);
    assert.deepEqual(r.list(), ["10.0.0.5", "10.0.0.9"], "a replica that is not ready takes no part");
    assert.deepEqual(r.place(), { count: 2, index: 1 });
  });
  it("this replica is always among them, even before its own slice says it is ready", () => {
    const r = new Replicas("10.0.0.9");
    r.setSlices([slice(["10.0.0.5", true])]);
    assert.deepEqual(r.place(), { count: 2, index: 1 });
  });
  it("the place is the same object until the replicas change (the table's subsets key on it)", () => {
    const r = new Replicas("10.0.0.9");
    r.setSlices([slice(["10.0.0.5", true])]);
    const before = r.place();
    r.setSlices([slice(["10.0.0.5", true], ["10.0.0.9", true])]);
    assert.equal(r.place(), before, "the same replicas: the same object");
    r.setSlices([slice(["10.0.0.5", true], ["10.0.0.6", true])]);
    assert.notEqual(r.place(), before);
    assert.deepEqual(r.place(), { count: 3, index: 2 });
  });
  it("owners follow ownerOf over the current replicas, and move when they change", () => {
    const r = new Replicas("10.0.0.9");
    r.setSlices([slice(["10.0.0.5", true], ["10.0.0.9", true])]);
    const keys = Array.from({ length: 50 }, (_, i) => `ns/fn-${i}`);
    for (const k of keys) assert.equal(r.owner(k), ownerOf(k, ["10.0.0.5", "10.0.0.9"]));
    r.setSlices([slice(["10.0.0.9", true])]);
    for (const k of keys) {
      assert.equal(r.owner(k), "10.0.0.9", "alone, it owns everything");
      assert.ok(r.owns(k));
    }
  });
  it("outside a cluster (no address) it owns every function and relays nothing", () => {
    const r = new Replicas("");
    assert.equal(r.owner("ns/fn"), undefined);
    assert.ok(r.owns("ns/fn"));
    assert.deepEqual(r.place(), { count: 1, index: 0 });
  });
});
