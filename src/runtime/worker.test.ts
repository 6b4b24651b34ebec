import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { answerOutcome, exitOutcome, type Outcome } from "./worker.ts";

describe("exitOutcome", () => {
  const MB = 1024 * 1024;
  const cases: Array<{ why: string; input: Parameters<typeof exitOutcome>[0]; want: Outcome }> = [
    {
      why: "the kernel killed the worker itself (SIGKILL) and the OOM count rose: 434",
      input: { code: null, signal: "SIGKILL", oomKillsAtStart: 0, oomKillsNow: 1, lastRssBytes: 300 * MB },
      want: { kind: "memory", usedBytes: 300 * MB },
    },
    {
      why: "the kernel killed a child (the Go function binary) and the bootstrap exited 1 after it: still 434",
      input: { code: 1, signal: null, oomKillsAtStart: 2, oomKillsNow: 3, lastRssBytes: 200 * MB },
      want: { kind: "memory", usedBytes: 200 * MB },
    },
    {
      why: "the function called exit(1) and nothing was OOM-killed: 439",
      input: { code: 1, signal: null, oomKillsAtStart: 2, oomKillsNow: 2, lastRssBytes: 10 * MB },
      want: { kind: "exited", code: 1, signal: null },
    },
    {
      why: "a SIGKILL from elsewhere with the count unchanged is a crash, not memory: 439",
      input: { code: null, signal: "SIGKILL", oomKillsAtStart: 0, oomKillsNow: 0, lastRssBytes: 10 * MB },
      want: { kind: "exited", code: null, signal: "SIGKILL" },
    },
    {
      why: "no readable cgroup (outside a container): never claims memory",
      input: {
        code: null,
        signal: "SIGKILL",
        oomKillsAtStart: undefined,
        oomKillsNow: undefined,
        lastRssBytes: 0,
      },
      want: { kind: "exited", code: null, signal: "SIGKILL" },
    },
  ];
  for (const c of cases) it(c.why, () => assert.deepEqual(exitOutcome(c.input), c.want));
});

describe("answerOutcome", () => {
  const body = Buffer.from('"allocated"');
  const cases: Array<{ why: string; input: Parameters<typeof answerOutcome>[0]; want: Outcome }> = [
    {
      why: "a child OOM-killed while it ran, the function answering after it: 434 all the same",
      input: { kind: "response", body, oomKillsAtStart: 2, oomKillsNow: 3, lastRssBytes: 9 },
      want: { kind: "memory", usedBytes: 9 },
    },
    {
      why: "no OOM kill while it ran: its answer",
      input: { kind: "response", body, oomKillsAtStart: 2, oomKillsNow: 2, lastRssBytes: 9 },
      want: { kind: "response", body },
    },
    {
      why: "an error it posted, with no OOM kill: its error",
      input: { kind: "error", body, oomKillsAtStart: 0, oomKillsNow: 0, lastRssBytes: 0 },
      want: { kind: "error", body },
    },
    {
      why: "no readable cgroup (outside a container): never claims memory",
      input: { kind: "response", body, oomKillsAtStart: undefined, oomKillsNow: undefined, lastRssBytes: 0 },
      want: { kind: "response", body },
    },
  ];
  for (const c of cases) it(c.why, () => assert.deepEqual(answerOutcome(c.input), c.want));
});
