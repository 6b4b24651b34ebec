import assert from "node:assert/strict";
import { test } from "node:test";
import { DRAIN_QUIET_MS, mustStayOpen } from "./drain.ts";

test("mustStayOpen", () => {
  const cases: {
    why: string;
    inFlight: number;
    lastRequestAt: number;
    now: number;
    deadline: number;
    want: boolean;
  }[] = [
    {
      why: "a call still runs: its answer must be written",
      inFlight: 1,
      lastRequestAt: 0,
      now: 5000,
      deadline: 10_000,
      want: true,
    },
    {
      why: "idle but a request came 700 ms ago: activators may still send (answered 503)",
      inFlight: 0,
      lastRequestAt: 4300,
      now: 5000,
      deadline: 10_000,
      want: true,
    },
    {
      why: "idle and quiet for the whole quiet period: close",
      inFlight: 0,
      lastRequestAt: 5000 - DRAIN_QUIET_MS,
      now: 5000,
      deadline: 10_000,
      want: false,
    },
    {
      why: "past the deadline a running call does not hold the instance open",
      inFlight: 3,
      lastRequestAt: 9999,
      now: 10_000,
      deadline: 10_000,
      want: false,
    },
  ];
  for (const c of cases) assert.equal(mustStayOpen(c, c.now, c.deadline), c.want, c.why);
});
