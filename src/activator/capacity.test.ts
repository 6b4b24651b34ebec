import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { freeSlots, ownerOf, pickInstance } from "./capacity.ts";

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
  it("only instances in this activator's subset are picked", () => {
    const all = inst(0, 0, 0, 0).map((i, k) => ({ ...i, mine: k % 2 === 0 }));
    assert.equal(pickInstance(all, 1, 1), 2);
  });
  it("an instance in its busy back-off is skipped until the back-off ends", () => {
    const all = [
      { ip: "10.0.0.1", inFlight: 0, busyUntil: 1000 },
      { ip: "10.0.0.2", inFlight: 1 },
    ];
    assert.equal(pickInstance(all, 2, 0, 999), 1, "during the back-off the busier one is taken");
    assert.equal(pickInstance(all, 2, 0, 1000), 0, "at its end the idle one is back");
  });
});

describe("freeSlots", () => {
  it("sums the room left on each instance, never negative", () => {
    assert.equal(freeSlots(inst(0, 3, 5), 4), 4 + 1 + 0);
  });
});

describe("ownerOf", () => {
  const replicas = ["10.0.0.5", "10.0.0.9", "10.0.0.12"];
  it("every replica names the same owner, whatever order it lists the replicas in", () => {
    const a = ownerOf("ns/fn", replicas);
    assert.ok(a && replicas.includes(a));
    assert.equal(ownerOf("ns/fn", [...replicas].reverse()), a);
  });
  it("a replica that leaves moves only the functions it owned", () => {
    const keys = Array.from({ length: 300 }, (_, i) => `ns/fn-${i}`);
    const before = new Map(keys.map((k) => [k, ownerOf(k, replicas)]));
    const after = new Map(keys.map((k) => [k, ownerOf(k, replicas.slice(0, 2))]));
    for (const k of keys)
      if (before.get(k) !== "10.0.0.12") assert.equal(after.get(k), before.get(k), `${k} stayed`);
    // …and the functions spread over the replicas (each has some of 300).
    for (const r of replicas) assert.ok([...before.values()].filter((o) => o === r).length > 50, r);
  });
  it("no replicas: no owner", () => assert.equal(ownerOf("ns/fn", []), undefined));
});
