import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { ByteBudget } from "./server.ts";

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
