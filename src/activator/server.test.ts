import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { ByteBudget, coldStartMessage } from "./server.ts";

describe("ByteBudget", () => {
  it("takes bytes while they fit and gives them back; a chunk that does not fit takes nothing", () => {
    const b = new ByteBudget(10);
    assert.equal(b.take(6), true);
    assert.equal(b.take(5), false, "6 + 5 is over 10");
    assert.equal(b.used, 6);
    assert.equal(b.take(4), true, "exactly the limit fits");
    b.give(6);
    assert.equal(b.used, 4);
  });
  it("never goes below zero (a request given back twice)", () => {
    const b = new ByteBudget(10);
    b.take(3);
    b.give(3);
    b.give(3);
    assert.equal(b.used, 0);
  });
});

describe("coldStartMessage: a cold start as its Event says it", () => {
  it("with SCF's phases from the Init Report line", () =>
    assert.equal(
      coldStartMessage(
        "abc",
        236,
        "START RequestId:abc\nInit Report RequestId: abc Coldstart: 236ms (PullCode: 70ms InitRuntime: 8ms InitFunction: 158ms) Memory: 128MB MemUsage: 9.00MB\n",
      ),
      "request abc waited for a new instance: 236 ms (PullCode 70 ms, InitRuntime 8 ms, InitFunction 158 ms)",
    ));
  it("without them when the log was not asked for", () =>
    assert.equal(coldStartMessage("abc", 236, ""), "request abc waited for a new instance: 236 ms"));
});
