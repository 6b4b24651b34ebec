import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { concurrencyShare, freeSlots, pickInstance } from "./capacity.ts";

const inst = (...inFlight: number[]) => inFlight.map((n, i) => ({ ip: `10.0.0.${i}`, inFlight: n }));

describe("pickInstance", () => {
  const cases: Array<{ why: string; in: number[]; per: number; cursor: number; want: number }> = [
    { why: "no instances: the request must wait", in: [], per: 1, cursor: 0, want: -1 },
    { why: "every instance at perInstance: wait", in: [1, 1], per: 1, cursor: 0, want: -1 },
    { why: "the least busy instance with room wins", in: [2, 1, 0], per: 2, cursor: 0, want: 2 },
    { why: "an instance at its limit is skipped even at the cursor", in: [2, 1], per: 2, cursor: 0, want: 1 },
    {
      why: "equal load: round robin from the cursor spreads requests",
      in: [0, 0, 0],
      per: 1,
      cursor: 1,
      want: 1,
    },
    { why: "the cursor wraps around", in: [0, 0, 0], per: 1, cursor: 5, want: 2 },
  ];
  for (const c of cases) it(c.why, () => assert.equal(pickInstance(inst(...c.in), c.per, c.cursor), c.want));
  it("only instances this activator is allowed (its subset) are picked", () => {
    const all = inst(0, 0, 0, 0);
    const evenOnly = (i: { ip: string }) => Number(i.ip.split(".")[3]) % 2 === 0;
    assert.equal(pickInstance(all, 1, 1, evenOnly), 2);
  });
});

describe("freeSlots", () => {
  it("sums the room left on each instance, never negative", () => {
    assert.equal(freeSlots(inst(0, 3, 5), 4), 4 + 1 + 0);
  });
});

describe("concurrencyShare", () => {
  const cases: Array<[number, number, number[]]> = [
    [5, 2, [3, 2]],
    [1, 3, [1, 0, 0]],
    [10, 1, [10]],
    [7, 3, [3, 2, 2]],
  ];
  for (const [max, n, want] of cases) {
    it(`max ${max} over ${n} activators is ${want.join("+")}, adding up to max`, () => {
      const parts = Array.from({ length: n }, (_, index) => concurrencyShare(max, { count: n, index }));
      assert.deepEqual(parts, want);
      assert.equal(
        parts.reduce((a, b) => a + b, 0),
        max,
      );
    });
  }
});
