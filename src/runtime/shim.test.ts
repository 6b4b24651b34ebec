import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { initReportLine, reportLine } from "./scf-log.ts";
import { KEPT_OUTPUT_BYTES, keepOutput, mapOutcome, tagLines, workerArgv, workerCount } from "./shim.ts";

describe("SCF log lines", () => {
  it("Report has no space after the colons", () => {
    assert.equal(
      reportLine("r1", 0.4, 128, 31178752),
      "Report RequestId:r1 Duration:1ms Memory:128MB MemUsage:29.734375MB",
    );
  });
  it("Init Report has spaces, the sum as Coldstart, and MemUsage to 2 decimals", () => {
    assert.equal(
      initReportLine("r1", { pullCodeMs: 70, initRuntimeMs: 8, initFunctionMs: 158 }, 640, 60_672_000),
      "Init Report RequestId: r1 Coldstart: 236ms (PullCode: 70ms InitRuntime: 8ms InitFunction: 158ms) Memory: 640MB MemUsage: 57.86MB",
    );
  });
  it("a provisioned instance logs Provisioned Report", () => {
    assert.match(
      initReportLine("r", { pullCodeMs: 0, initRuntimeMs: 0, initFunctionMs: 0 }, 128, 0, true),
      /^Provisioned Report /,
    );
  });
});

describe("mapOutcome", () => {
  const cases: Array<{
    why: string;
    o: Parameters<typeof mapOutcome>[0];
    code: number | undefined;
    recycle: boolean;
  }> = [
    {
      why: "a JSON result passes through",
      o: { kind: "response", body: Buffer.from('{"a":1}') },
      code: undefined,
      recycle: false,
    },
    {
      why: "our bootstraps' 437 is kept",
      o: { kind: "error", body: Buffer.from('{"errorCode":437,"errorMessage":"x"}') },
      code: 437,
      recycle: false,
    },
    {
      why: "a custom runtime's free-form error is a user error, 430",
      o: { kind: "error", body: Buffer.from("oops") },
      code: 430,
      recycle: false,
    },
    { why: "a time-out is 433 and recycles the worker", o: { kind: "timeout" }, code: 433, recycle: true },
    {
      why: "a result over 6 MB is SCF's 407, not returned",
      o: { kind: "response", body: Buffer.alloc(6 * 1024 * 1024 + 1, 0x61) },
      code: 407,
      recycle: false,
    },
    {
      why: "a result of exactly 6 MB is returned",
      o: { kind: "response", body: Buffer.from(JSON.stringify("a".repeat(6 * 1024 * 1024 - 2))) },
      code: undefined,
      recycle: false,
    },
    {
      why: "memory over memoryMB is SCF's 434 and recycles the worker",
      o: { kind: "memory", usedBytes: 140 * 1024 * 1024 },
      code: 434,
      recycle: true,
    },
    {
      why: "an exit is 439 and recycles the worker",
      o: { kind: "exited", code: 1, signal: null },
      code: 439,
      recycle: true,
    },
  ];
  for (const c of cases) {
    it(c.why, () => {
      const m = mapOutcome(c.o, 3000);
      assert.equal(m.code, c.code);
      assert.equal(m.recycle, c.recycle);
      JSON.parse(m.body.toString()); // always JSON
    });
  }
  for (const c of [
    {
      why: "the sampler saw it over memoryMB: what it used",
      usedMB: 170,
      want: "Memory Limit Exceeded: the function used 170 MB, over its 128 MB",
    },
    {
      why: "the kernel stopped it between two samples: never 'used 121 MB, over its 128 MB'",
      usedMB: 121,
      want: "Memory Limit Exceeded: the function went over its 128 MB faster than it was measured (last measured at 121 MB) and the kernel stopped it",
    },
    {
      why: "the kernel stopped it before any sample",
      usedMB: 0,
      want: "Memory Limit Exceeded: the function went over its 128 MB faster than it was measured and the kernel stopped it",
    },
    {
      why: "its time ran out with the instance's memory full: the kernel was reclaiming, not stopping it",
      usedMB: 118,
      stalled: true,
      want: "Memory Limit Exceeded: the function's time ran out with its instance's memory full (last measured at 118 MB of its 128 MB)",
    },
  ])
    it(`434's message: ${c.why}`, () => {
      const o = { kind: "memory" as const, usedBytes: c.usedMB * 1024 * 1024, stalled: "stalled" in c };
      const m = mapOutcome(o, 3000, 128);
      assert.equal((JSON.parse(m.body.toString()) as { errorMessage: string }).errorMessage, c.want);
    });
  it("plain text from a custom runtime becomes a JSON string", () => {
    assert.equal(mapOutcome({ kind: "response", body: Buffer.from("hi") }, 1000).body.toString(), '"hi"');
  });
});

describe("workers", () => {
  it("one per concurrent request, at most one per 96 MB, at least one", () => {
    assert.deepEqual(
      [
        workerCount(1, 128),
        workerCount(20, 128),
        workerCount(20, 256),
        workerCount(20, 3072),
        workerCount(4, 64),
        workerCount(2, 32),
      ],
      [1, 1, 2, 20, 1, 1],
    );
  });
  it("runtimes map to their bootstraps; custom runs the user's", () => {
    assert.deepEqual(workerArgv("nodejs24", "/app", "/var/user"), [
      "/var/lang/node24/bin/node",
      "/app/runtimes/nodejs/bootstrap.cjs",
    ]);
    // Node.js 22 runs the function; the shim stays on the image's Node.js 24.
    assert.deepEqual(workerArgv("nodejs22", "/app", "/var/user"), [
      "/var/lang/node22/bin/node",
      "/app/runtimes/nodejs/bootstrap.cjs",
    ]);
    assert.deepEqual(workerArgv("python3.11", "/app", "/var/user"), [
      "python3",
      "-u",
      "/app/runtimes/python/bootstrap.py",
    ]);
    assert.deepEqual(workerArgv("php8.2", "/app", "/var/user"), ["php", "/app/runtimes/php/bootstrap.php"]);
    // go1: our Go bootstrap, which starts the user's binary and calls it over net/rpc.
    assert.deepEqual(workerArgv("go1", "/app", "/var/user"), ["/app/runtimes/go/bootstrap"]);
    assert.deepEqual(workerArgv("custom", "/app", "/var/user"), ["/var/user/bootstrap"]);
  });
});

describe("tagLines: the function's output in the pod's log", () => {
  const table: Array<{ why: string; requestId?: string; chunks: string[]; want: string; left: string }> = [
    {
      why: "an invocation's lines carry its request id, as SCF's own lines do",
      requestId: "r1",
      chunks: ["a\nb\n"],
      want: "RequestId:r1 a\nRequestId:r1 b\n",
      left: "",
    },
    {
      why: "a line split across writes is tagged once, when whole",
      requestId: "r1",
      chunks: ["hel", "lo\nwor"],
      want: "RequestId:r1 hello\n",
      left: "wor",
    },
    {
      why: "output while the module loads belongs to no invocation: left as it is",
      chunks: ["loading\n"],
      want: "loading\n",
      left: "",
    },
    {
      why: "an empty line is still a line of the invocation",
      requestId: "r2",
      chunks: ["\n"],
      want: "RequestId:r2 \n",
      left: "",
    },
  ];
  for (const c of table)
    it(c.why, () => {
      const slot = { requestId: c.requestId, partialLine: "" };
      const out = c.chunks.map((x) => tagLines(slot, x)).join("");
      assert.equal(out, c.want);
      assert.equal(slot.partialLine, c.left);
    });
});

describe("keepOutput: what a slot holds of its worker's output", () => {
  const table: Array<{ why: string; chunks: number[]; want: number[] }> = [
    { why: "under the bound everything is kept, in order", chunks: [10, 20, 30], want: [10, 20, 30] },
    {
      why: "past the bound the oldest chunks go, so a function printing without end cannot grow the shim",
      chunks: [KEPT_OUTPUT_BYTES - 10, 20, 30],
      want: [20, 30],
    },
    {
      why: "one chunk larger than the bound is kept whole: the log result takes its last 4 KB",
      chunks: [5, KEPT_OUTPUT_BYTES + 1],
      want: [KEPT_OUTPUT_BYTES + 1],
    },
  ];
  for (const c of table)
    it(c.why, () => {
      const slot = { log: [] as Buffer[], logBytes: 0 };
      for (const n of c.chunks) keepOutput(slot, Buffer.alloc(n));
      assert.deepEqual(
        slot.log.map((b) => b.length),
        c.want,
      );
      assert.equal(
        slot.logBytes,
        c.want.reduce((a, b) => a + b, 0),
      );
    });
});
