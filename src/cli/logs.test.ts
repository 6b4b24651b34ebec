import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { keptLines, lineOf, parseDuration } from "./logs.ts";

describe("lineOf: the lines of one invocation", () => {
  const id = "9cc1c162-9b78-4f25-9aca-eb63c65e488a";
  const table: Array<[string, boolean, string]> = [
    [`START RequestId:${id}`, true, "SCF's START line"],
    [
      `Init Report RequestId: ${id} Coldstart: 236ms (PullCode: 70ms`,
      true,
      "Init Report has a space after the colon",
    ],
    [`RequestId:${id} event {'name': 'x'}`, true, "the function's own line, as the shim tags it"],
    [`Report RequestId:${id} Duration:5ms Memory:128MB MemUsage:8.3MB`, true, "the last line"],
    [`RequestId:${id}0 other`, false, "an id the wanted one is a prefix of"],
    ["event {'name': 'x'}", false, "a line of no invocation"],
  ];
  for (const [line, want, why] of table) it(why, () => assert.equal(lineOf(id)(line), want));
  it("an id with regex characters is taken literally", () => {
    assert.equal(lineOf("a.b")("RequestId:axb hi"), false);
    assert.equal(lineOf("a.b")("RequestId:a.b hi"), true);
  });
});

describe("parseDuration", () => {
  const table: Array<[string, number | null, string]> = [
    ["30s", 30, "seconds"],
    ["5m", 300, "minutes"],
    ["2h", 7200, "hours"],
    ["1d", null, "days are not taken (kubectl's --since takes s, m, h)"],
    ["5", null, "a unit is needed"],
  ];
  for (const [s, want, why] of table) it(why, () => assert.equal(parseDuration(s), want));
});

describe("keptLines: a kept invocation's log, each line carrying its request id", () => {
  it("SCF's lines as they are, the function's tagged as on an instance, no empty tail", () => {
    const lines = keptLines({
      requestId: "abc",
      namespace: "ns",
      function: "f",
      time: "2026-12-06T00:00:00Z",
      outcome: "Succeeded",
      coldStart: true,
      async: false,
      log: "START RequestId:abc\nInit Report RequestId: abc Coldstart: 5ms\nhello\nEND RequestId:abc\n",
    });
    assert.deepEqual(lines, [
      "START RequestId:abc",
      "Init Report RequestId: abc Coldstart: 5ms",
      "RequestId:abc hello",
      "END RequestId:abc",
    ]);
  });
});
