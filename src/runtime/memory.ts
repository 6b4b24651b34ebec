/**
 * How an instance measures its function's memory, apart from the shim's own: every
 * language worker runs in its own process group (the shim starts it detached), so the
 * function's memory is the resident memory (RSS) of the processes in the workers' groups —
 * the bootstrap, the interpreter, and anything they started (a Go binary, a shell's
 * children) — and never the shim's. Above `memoryMB` the shim ends the invocation of the
 * largest worker with SCF's 434 and recycles that worker. The container's limit is
 * memoryMB plus the shim's overhead, so the kernel kills only a function that grows faster
 * than the sampling catches; the cgroup's OOM-kill counter tells that apart from a crash.
 */
import { readdirSync, readFileSync } from "node:fs";

/**
 * How often the function's memory is sampled while it runs. A function that allocates
 * faster than the shim's overhead (64 MiB) per interval is stopped by the kernel instead,
 * which the cgroup's OOM-kill count still reports as 434.
 */
export const MEMORY_SAMPLE_MS = 50;

/** x86-64 and arm64 Linux use 4 KiB pages unless the kernel was built otherwise. */
export const PAGE_SIZE = 4096;

/**
 * Resident bytes per process group, from the text of /proc/<pid>/stat files. After the
 * command name (in parentheses, and it may hold spaces or ")") come: state, ppid, pgrp, …,
 * with rss (in pages) the 22nd field after the name. Example: "42 (node) S 1 42 42 0 -1 …"
 * counts towards group 42.
 */
export function rssByGroup(stats: Iterable<string>, pageSize = PAGE_SIZE): Map<number, number> {
  const groups = new Map<number, number>();
  for (const stat of stats) {
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    const pgrp = Number(fields[2]);
    const rssPages = Number(fields[21]);
    if (!Number.isInteger(pgrp) || !Number.isFinite(rssPages)) continue;
    groups.set(pgrp, (groups.get(pgrp) ?? 0) + rssPages * pageSize);
  }
  return groups;
}

/** rssByGroup over every process this instance can see (in a pod: its own container's). */
export function readRssByGroup(proc = "/proc"): Map<number, number> {
  const stats: string[] = [];
  for (const name of readdirSync(proc)) {
    if (!/^\d+$/.test(name)) continue;
    try {
      stats.push(readFileSync(`${proc}/${name}/stat`, "utf8"));
    } catch {
      // gone between the listing and the read
    }
  }
  return rssByGroup(stats);
}

/**
 * The worker to stop when the function is over its memory: the largest one, when the sum
 * is above the limit. Example: limit 128 MiB, workers {a: 100 MiB, b: 40 MiB} → "a".
 */
export function overLimit<K>(usage: Map<K, number>, limitBytes: number): K | undefined {
  let total = 0;
  let largest: K | undefined;
  let largestBytes = -1;
  for (const [key, bytes] of usage) {
    total += bytes;
    if (bytes > largestBytes) {
      largest = key;
      largestBytes = bytes;
    }
  }
  return total > limitBytes ? largest : undefined;
}

/**
 * How many processes the kernel's OOM killer has killed in this container's memory cgroup
 * ("oom_kill N" in cgroup v2's memory.events, or in v1's memory.oom_control), or undefined
 * where neither is readable.
 */
export function oomKillCount(root = "/sys/fs/cgroup"): number | undefined {
  for (const file of [`${root}/memory.events`, `${root}/memory/memory.oom_control`]) {
    try {
      const m = /^oom_kill (\d+)$/m.exec(readFileSync(file, "utf8"));
      if (m) return Number(m[1]);
    } catch {
      // not this cgroup version
    }
  }
  return undefined;
}
