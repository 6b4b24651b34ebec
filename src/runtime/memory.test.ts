import assert from "node:assert/strict";
import { mkdirSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { describe, it } from "node:test";
import { tempDir } from "../../test/support/temp-dir.ts";
import {
  type CgroupMemory,
  MemorySnapshots,
  memoryByGroup,
  memoryFull,
  memoryFullNow,
  oomKillCount,
  overLimit,
  readCgroupMemory,
} from "./memory.ts";

/** A cgroup directory of these files (paths under it; v1's under memory/). */
function fakeCgroup(files: Record<string, string>): string {
  const root = tempDir("cg");
  for (const [path, text] of Object.entries(files)) {
    mkdirSync(dirname(join(root, path)), { recursive: true });
    writeFileSync(join(root, path), text);
  }
  return root;
}

// "pid (comm) state ppid pgrp …" and statm's "size resident shared text lib data dt" (pages).
const proc = (pid: number, comm: string, pgrp: number, resident: number, shared: number) => ({
  stat: `${pid} (${comm}) S 1 ${pgrp} ${pgrp} 0 -1 4194560 100 0 0 0 1 1 0 0 20 0 1 0 100 1000000 ${resident}`,
  statm: `371663 ${resident} ${shared} 10932 0 147515 0`,
});

describe("memoryByGroup", () => {
  const cases: Array<{ why: string; procs: ReturnType<typeof proc>[]; want: Array<[number, number]> }> = [
    {
      why: "a worker and the binary it started count together (the go1 bootstrap and the user's Go binary)",
      procs: [proc(10, "bootstrap", 10, 1000, 400), proc(11, "main", 10, 3000, 500)],
      want: [[10, 3100 * 4096]],
    },
    {
      why: "the shim (its own group) is kept apart from the workers",
      procs: [proc(1, "node", 1, 12_000, 11_000), proc(20, "python3", 20, 5000, 1000)],
      want: [
        [1, 1000 * 4096],
        [20, 4000 * 4096],
      ],
    },
    {
      why: "the interpreter's shared executable pages are not the function's: five Node.js workers of 60 MB RSS, 45 MB of it the node binary, are 5 × 15 MB",
      procs: [1, 2, 3, 4, 5].map((i) => proc(100 + i, "node", 100, 15_000, 11_250)),
      want: [[100, 5 * 3750 * 4096]],
    },
    {
      why: "a command name with spaces and a parenthesis does not shift the fields",
      procs: [proc(30, "my (odd) name", 30, 7, 2)],
      want: [[30, 5 * 4096]],
    },
    { why: "a truncated statm is skipped", procs: [{ stat: "31 (x) S 1 31", statm: "12" }], want: [] },
  ];
  for (const c of cases) it(c.why, () => assert.deepEqual([...memoryByGroup(c.procs)], c.want));
});

describe("overLimit", () => {
  const MiB = 1024 * 1024;
  const cases: Array<{ why: string; usage: Array<[string, number]>; limit: number; want?: string }> = [
    { why: "under the limit nothing is stopped", usage: [["a", 100 * MiB]], limit: 128 * MiB },
    { why: "exactly the limit is allowed", usage: [["a", 128 * MiB]], limit: 128 * MiB },
    {
      why: "over the limit the largest worker is stopped, though each alone is under it",
      usage: [
        ["a", 100 * MiB],
        ["b", 40 * MiB],
      ],
      limit: 128 * MiB,
      want: "a",
    },
  ];
  for (const c of cases) it(c.why, () => assert.equal(overLimit(new Map(c.usage), c.limit), c.want));
});

describe("oomKillCount", () => {
  it("reads cgroup v2's memory.events", () => {
    const root = fakeCgroup({ "memory.events": "low 0\nhigh 0\nmax 3\noom 2\noom_kill 2\n" });
    assert.equal(oomKillCount(root), 2);
  });
  it("reads cgroup v1's memory.oom_control", () => {
    const root = fakeCgroup({ "memory/memory.oom_control": "oom_kill_disable 0\nunder_oom 0\noom_kill 5\n" });
    assert.equal(oomKillCount(root), 5);
  });
  it("is undefined where neither file is readable", () => {
    assert.equal(oomKillCount(fakeCgroup({})), undefined);
  });
});

describe("memoryFull", () => {
  const MiB = 1024 * 1024;
  const cases = [
    {
      why: "at the limit with nothing to drop: the kernel is reclaiming what the processes run from",
      m: { usageBytes: 250 * MiB, limitBytes: 256 * MiB, inactiveFileBytes: 2 * MiB },
      want: true,
    },
    {
      why: "at the limit but most of it inactive file pages, which the kernel drops cheaply (a function reading files)",
      m: { usageBytes: 255 * MiB, limitBytes: 256 * MiB, inactiveFileBytes: 100 * MiB },
      want: false,
    },
    {
      why: "well under the limit",
      m: { usageBytes: 150 * MiB, limitBytes: 256 * MiB, inactiveFileBytes: 0 },
      want: false,
    },
    {
      why: "an unlimited v1 cgroup (2^63 − 4096) is never full",
      m: { usageBytes: 150 * MiB, limitBytes: Number("9223372036854771712"), inactiveFileBytes: 0 },
      want: false,
    },
    {
      why: "an unlimited v2 cgroup (max) is never full",
      m: { usageBytes: 150 * MiB, limitBytes: Number.POSITIVE_INFINITY, inactiveFileBytes: 0 },
      want: false,
    },
  ];
  for (const c of cases) it(c.why, () => assert.equal(memoryFull(c.m), c.want));
});

describe("readCgroupMemory", () => {
  const cases: Array<{ why: string; files: Record<string, string>; want: CgroupMemory; full: boolean }> = [
    {
      why: "reads cgroup v2's memory.current, memory.max and inactive_file",
      files: {
        "memory.current": "262144000\n",
        "memory.max": "268435456\n",
        "memory.stat": "anon 250000000\nfile 1000\nactive_file 500\ninactive_file 4096\n",
      },
      want: { usageBytes: 262144000, limitBytes: 268435456, inactiveFileBytes: 4096 },
      full: true,
    },
    {
      why: "reads cgroup v1's usage, limit and total_inactive_file (not the cgroup's own inactive_file)",
      files: {
        "memory/memory.usage_in_bytes": "115683328\n",
        "memory/memory.limit_in_bytes": "268435456\n",
        "memory/memory.stat":
          "cache 11124736\nrss 100818944\ninactive_file 1\ntotal_cache 11124736\ntotal_inactive_file 8192\n",
      },
      want: { usageBytes: 115683328, limitBytes: 268435456, inactiveFileBytes: 8192 },
      full: false,
    },
  ];
  for (const c of cases)
    it(c.why, () => {
      const root = fakeCgroup(c.files);
      assert.deepEqual(readCgroupMemory(root), c.want);
      assert.equal(memoryFullNow(root), c.full);
    });
  it("is undefined, and never full, where neither is readable", () => {
    const root = fakeCgroup({});
    assert.equal(readCgroupMemory(root), undefined);
    assert.equal(memoryFullNow(root), false);
  });
  it("a v2 memory.max of max is unlimited", () => {
    const root = fakeCgroup({
      "memory.current": "1000\n",
      "memory.max": "max\n",
      "memory.stat": "inactive_file 0\n",
    });
    assert.equal(readCgroupMemory(root)?.limitBytes, Number.POSITIVE_INFINITY);
  });
});

describe("MemorySnapshots", () => {
  // A fake clock and a reader that counts its reads (each a listing of /proc in a pod).
  const setup = () => {
    let now = 1000;
    let reads = 0;
    const snapshots = new MemorySnapshots(
      () => new Map([[42, ++reads]]),
      () => now,
    );
    return { snapshots, reads: () => reads, advance: (ms: number) => (now += ms) };
  };
  const cases: Array<{
    why: string;
    steps: Array<[advanceMs: number, maxAgeMs: number]>;
    wantReads: number;
  }> = [
    { why: "the first ask reads", steps: [[0, 50]], wantReads: 1 },
    {
      why: "asks within the age share one read (800 invocations/s → 20 reads/s)",
      steps: [
        [0, 50],
        [10, 50],
        [39, 50],
      ],
      wantReads: 1,
    },
    {
      why: "an ask past the age reads again",
      steps: [
        [0, 50],
        [50, 50],
      ],
      wantReads: 2,
    },
    {
      why: "age 0 always reads (the sampler, which must see now)",
      steps: [
        [0, 0],
        [0, 0],
      ],
      wantReads: 2,
    },
    {
      why: "the sampler's read serves the invocations after it",
      steps: [
        [0, 0],
        [20, 50],
      ],
      wantReads: 1,
    },
  ];
  for (const c of cases)
    it(c.why, () => {
      const t = setup();
      let last = 0;
      for (const [advance, maxAge] of c.steps) {
        t.advance(advance);
        last = t.snapshots.get(maxAge).get(42)!;
      }
      assert.equal(t.reads(), c.wantReads);
      assert.equal(last, c.wantReads, "the figure is the latest read's");
    });
});
