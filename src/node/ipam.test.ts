import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { Ipam } from "./ipam.ts";

describe("Ipam", () => {
  it("hands out addresses in turn, skipping the host's, and does not reuse a released one at once", () => {
    const ipam = new Ipam("10.244.0.0/16", "10.244.0.1");
    assert.equal(ipam.prefix, 16);
    assert.equal(ipam.allocate("a"), "10.244.0.2");
    assert.equal(ipam.allocate("b"), "10.244.0.3");
    assert.equal(ipam.allocate("a"), "10.244.0.2", "the same owner keeps its address");
    ipam.release("a");
    assert.equal(ipam.allocate("c"), "10.244.0.4", "peers may still cache the old MAC of .2");
  });
  it("wraps around to free addresses at the end of the range", () => {
    const ipam = new Ipam("10.0.0.0/29", "10.0.0.1"); // usable .1–.6, host .1
    for (const o of ["a", "b", "c", "d", "e"]) ipam.allocate(o); // .2–.6
    ipam.release("b"); // .3
    assert.equal(ipam.allocate("f"), "10.0.0.3");
  });
  it("never hands out the broadcast address and says when it runs out", () => {
    const ipam = new Ipam("10.0.0.0/30", "10.0.0.1"); // .0 network, .1 host, .2 free, .3 broadcast
    assert.equal(ipam.allocate("a"), "10.0.0.2");
    assert.throws(() => ipam.allocate("b"), /exhausted/);
  });
});
