import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { type AfterAttempt, afterAttempt, isExpired, parseDelays, type RetryPolicy } from "./policy.ts";

const SCF: RetryPolicy = {
  retryAttempts: 2,
  maxEventAgeMs: 6 * 3600_000,
  userRetryDelaysMs: [60_000, 120_000],
  platformBackoffBaseMs: 1000,
  platformBackoffMaxMs: 60_000,
};

describe("afterAttempt", () => {
  const t0 = 1_000_000;
  const cases: Array<{
    why: string;
    outcome: "success" | "userError" | "platformError";
    userErrors?: number;
    platformErrors?: number;
    now?: number;
    policy?: Partial<RetryPolicy>;
    want: AfterAttempt;
  }> = [
    { why: "a success is done", outcome: "success", want: { action: "done" } },
    {
      why: "the first user error is retried after 1 minute (SCF)",
      outcome: "userError",
      userErrors: 1,
      want: { action: "retry", delayMs: 60_000 },
    },
    {
      why: "the second after 2 minutes",
      outcome: "userError",
      userErrors: 2,
      want: { action: "retry", delayMs: 120_000 },
    },
    {
      why: "the third user error (1 + retryAttempts attempts) is a dead letter",
      outcome: "userError",
      userErrors: 3,
      want: { action: "deadLetter", reason: "RetriesExhausted" },
    },
    {
      why: "retryAttempts 0: the first user error is a dead letter",
      outcome: "userError",
      userErrors: 1,
      policy: { retryAttempts: 0 },
      want: { action: "deadLetter", reason: "RetriesExhausted" },
    },
    {
      why: "platform errors back off exponentially (the 3rd waits 4 s)",
      outcome: "platformError",
      platformErrors: 3,
      want: { action: "retry", delayMs: 4000 },
    },
    {
      why: "platform back-off is capped",
      outcome: "platformError",
      platformErrors: 30,
      want: { action: "retry", delayMs: 60_000 },
    },
    {
      why: "platform errors never exhaust retries, but the event's age does",
      outcome: "platformError",
      platformErrors: 2,
      now: t0 + SCF.maxEventAgeMs - 1000,
      want: { action: "deadLetter", reason: "EventExpired" },
    },
    {
      why: "a user retry that would start after the max age is a dead letter now",
      outcome: "userError",
      userErrors: 1,
      policy: { maxEventAgeMs: 90_000 },
      now: t0 + 40_000,
      want: { action: "deadLetter", reason: "EventExpired" },
    },
  ];
  for (const c of cases) {
    it(c.why, () => {
      const got = afterAttempt(
        c.outcome,
        { userErrors: c.userErrors ?? 0, platformErrors: c.platformErrors ?? 0 },
        t0,
        c.now ?? t0,
        { ...SCF, ...c.policy },
      );
      assert.deepEqual(got, c.want);
    });
  }
});

describe("isExpired", () => {
  it("at the max age, not before", () => {
    assert.equal(isExpired(0, SCF.maxEventAgeMs - 1, SCF), false);
    assert.equal(isExpired(0, SCF.maxEventAgeMs, SCF), true);
  });
});

describe("parseDelays", () => {
  it("reads SCF's delays in seconds", () => assert.deepEqual(parseDelays("60,120"), [60_000, 120_000]));
  it("refuses garbage, naming it", () => assert.throws(() => parseDelays("60,,x"), /60,,x/));
});
