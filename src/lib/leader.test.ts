import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { canAcquire } from "./leader.ts";

const at = (s: string) => new Date(`2026-01-01T10:00:${s}Z`);

describe("canAcquire", () => {
  const cases: Array<{ why: string; lease: Parameters<typeof canAcquire>[0]; now: Date; want: boolean }> = [
    { why: "nobody holds a new Lease", lease: undefined, now: at("00"), want: true },
    { why: "a released Lease has no holder", lease: { holder: undefined }, now: at("00"), want: true },
    {
      why: "the holder may always renew",
      lease: { holder: "a", renewTime: at("00"), leaseDurationSeconds: 15 },
      now: at("05"),
      want: true,
    },
    {
      why: "another candidate waits while the Lease is fresh",
      lease: { holder: "b", renewTime: at("00"), leaseDurationSeconds: 15 },
      now: at("14"),
      want: false,
    },
    {
      why: "another candidate takes an expired Lease",
      lease: { holder: "b", renewTime: at("00"), leaseDurationSeconds: 15 },
      now: at("16"),
      want: true,
    },
  ];
  for (const c of cases) it(c.why, () => assert.equal(canAcquire(c.lease, "a", c.now), c.want));
});
