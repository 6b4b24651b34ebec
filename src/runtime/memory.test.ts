import assert from "node:assert/strict";
import { mkdirSync, mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, it } from "node:test";
import { oomKillCount, overLimit, rssByGroup } from "./memory.ts";

// "pid (comm) state ppid pgrp session tty tpgid flags minflt cminflt majflt cmajflt utime
// stime cutime cstime priority nice threads itrealvalue starttime vsize rss …"
const stat = (pid: number, comm: string, pgrp: number, rssPages: number) =>
  `${pid} (${comm}) S 1 ${pgrp} ${pgrp} 0 -1 4194560 100 0 0 0 1 1 0 0 20 0 1 0 100 1000000 ${rssPages} 18446744073709551615 0 0 0`;

describe("rssByGroup", () => {
  const cases: Array<{ why: string; stats: string[]; want: Array<[number, number]> }> = [
    {
      why: "a worker and the binary it started count together (the go1 bootstrap and the user's Go binary)",
      stats: [stat(10, "bootstrap", 10, 1000), stat(11, "main", 10, 3000)],
      want: [[10, 4000 * 4096]],
    },
    {
      why: "the shim (its own group) is kept apart from the workers",
      stats: [stat(1, "node", 1, 12_000), stat(20, "python3", 20, 5000)],
      want: [
        [1, 12_000 * 4096],
        [20, 5000 * 4096],
      ],
    },
    {
      why: "a command name with spaces and a parenthesis does not shift the fields",
      stats: [stat(30, "my (odd) name", 30, 7)],
      want: [[30, 7 * 4096]],
    },
    { why: "a truncated line is skipped", stats: ["31 (x) S"], want: [] },
  ];
  for (const c of cases) it(c.why, () => assert.deepEqual([...rssByGroup(c.stats)], c.want));
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
    const root = mkdtempSync(join(tmpdir(), "cg-"));
    writeFileSync(join(root, "memory.events"), "low 0\nhigh 0\nmax 3\noom 2\noom_kill 2\n");
    assert.equal(oomKillCount(root), 2);
  });
  it("reads cgroup v1's memory.oom_control", () => {
    const root = mkdtempSync(join(tmpdir(), "cg-"));
    mkdirSync(join(root, "memory"));
    writeFileSync(join(root, "memory/memory.oom_control"), "oom_kill_disable 0\nunder_oom 0\noom_kill 5\n");
    assert.equal(oomKillCount(root), 5);
  });
  it("is undefined where neither file is readable", () => {
    assert.equal(oomKillCount(mkdtempSync(join(tmpdir(), "cg-"))), undefined);
  });
});
