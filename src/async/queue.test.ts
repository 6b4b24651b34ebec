import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { deadLetterSubjectOf } from "./queue.ts";

describe("deadLetterSubjectOf", () => {
  const cases: Array<{ why: string; subject: string; want: string | undefined }> = [
    {
      why: "a plain subject goes under the function's own namespace",
      subject: "orders.failed",
      want: "updraft.dead-letters.team-a.orders.failed",
    },
    {
      why: "naming another namespace's prefix still lands under this one",
      subject: "updraft.dead-letters.team-b.x",
      want: "updraft.dead-letters.team-a.updraft.dead-letters.team-b.x",
    },
    { why: "a full wildcard would name every subject", subject: "orders.>", want: undefined },
    { why: "a token wildcard would name many subjects", subject: "orders.*", want: undefined },
    { why: "an empty token is no NATS subject", subject: "orders..failed", want: undefined },
    { why: "a leading dot is an empty token", subject: ".orders", want: undefined },
    { why: "a space would split the protocol line", subject: "orders failed", want: undefined },
    { why: "longer than the CRD allows", subject: "a".repeat(201), want: undefined },
  ];
  for (const c of cases) {
    it(c.why, () => assert.equal(deadLetterSubjectOf("team-a", c.subject), c.want));
  }
});
