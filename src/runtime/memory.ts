/**
 * How an instance measures its function's memory, apart from the shim's own: every
 * language worker runs in its own process group (the shim starts it detached), so the
 * function's memory is the anonymous resident memory of the processes in the workers'
 * groups — the bootstrap, the interpreter, and anything they started (a Go binary, a
 * shell's children) — and never the shim's. Anonymous, not all of RSS: RSS also counts the
 * pages of the interpreter's own executable, which every worker shares (the kernel holds
 * them once): a Node.js worker is 60 MB of RSS of which 45 MB is the shared node binary,
 * and five workers summed by RSS read 225 MB too many. Above `memoryMB` the shim ends the invocation of the
 * largest worker with SCF's 434 and recycles that worker. The container's limit is
 * memoryMB plus the shim's overhead, so the kernel kills only a function that grows faster
 * than the sampling catches; the cgroup's OOM-kill counter tells that apart from a crash.
 */
import { readdirSync, readFileSync } from "node:fs";

/**
 * How often the function's memory is sampled while it runs. A function that allocates
 * faster than the ~50 MB of room its instance has past memoryMB per interval (of the
 * controller's RUNTIME_OVERHEAD_MB, the shim and the Node.js binary's pages take the rest)
 * is stopped by the kernel instead, which the cgroup's OOM-kill count still reports as 434.
 */
export const MEMORY_SAMPLE_MS = 50;

/** x86-64 and arm64 Linux use 4 KiB pages unless the kernel was built otherwise. */
export const PAGE_SIZE = 4096;

/** One process as /proc shows it: its stat line and its statm line. */
export interface ProcessMemory {
  stat: string;
  statm: string;
}

/**
 * Anonymous resident bytes per process group. The group is in /proc/<pid>/stat: after the
 * command name (in parentheses, and it may hold spaces or ")") come state, ppid, pgrp.
 * /proc/<pid>/statm gives, in pages, "size resident shared …", where shared is the file
 * and shared-memory part of resident, so resident − shared is the process's own memory.
 * Example: "42 (node) S 1 42 …" and "371663 15186 11252 …" → group 42, (15186 − 11252) ×
 * 4096 = 16.1 MB.
 */
export function memoryByGroup(processes: Iterable<ProcessMemory>, pageSize = PAGE_SIZE): Map<number, number> {
  const groups = new Map<number, number>();
  for (const { stat, statm } of processes) {
    const pgrp = Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[2]);
    const [, resident, shared] = statm.split(" ").map(Number);
    if (!Number.isInteger(pgrp) || !Number.isFinite(resident) || !Number.isFinite(shared)) continue;
    groups.set(pgrp, (groups.get(pgrp) ?? 0) + Math.max(0, resident! - shared!) * pageSize);
  }
  return groups;
}

/** memoryByGroup over every process this instance can see (in a pod: its own container's). */
export function readMemoryByGroup(proc = "/proc"): Map<number, number> {
  const processes: ProcessMemory[] = [];
  for (const name of readdirSync(proc)) {
    if (!/^\d+$/.test(name)) continue;
    try {
      processes.push({
        stat: readFileSync(`${proc}/${name}/stat`, "utf8"),
        statm: readFileSync(`${proc}/${name}/statm`, "utf8"),
      });
    } catch {
      // gone between the listing and the read
    }
  }
  return memoryByGroup(processes);
}

/**
 * readMemoryByGroup, read again only when the last read is older than asked. Every
 * invocation's Report line asks for its worker's memory, and each read is a listing of
 * /proc and two reads per process: at 800 invocations/s on one instance that was 36 % of
 * its shim's CPU (a profile, 2026-12-06). The shim's sampler reads afresh every 50 ms
 * while a worker is busy, and an invocation's figure may be that sample: e.g. 800
 * invocations/s → 20 reads/s, not 800.
 */
export class MemorySnapshots {
  private readonly read: () => Map<number, number>;
  private readonly now: () => number;
  private last: { at: number; groups: Map<number, number> } | undefined;

  constructor(
    read: () => Map<number, number> = readMemoryByGroup,
    now: () => number = () => performance.now(),
  ) {
    this.read = read;
    this.now = now;
  }

  /** Memory by process group, read at most `maxAgeMs` ago (0: read now). */
  get(maxAgeMs: number): Map<number, number> {
    const t = this.now();
    if (this.last && maxAgeMs > 0 && t - this.last.at < maxAgeMs) return this.last.groups;
    const groups = this.read();
    this.last = { at: t, groups };
    return groups;
  }
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

/** A memory cgroup's use, limit and inactive file pages, in bytes. */
export interface CgroupMemory {
  usageBytes: number;
  limitBytes: number;
  inactiveFileBytes: number;
}

/**
 * Whether a container is at its memory limit, counted as the kubelet counts a working set
 * (use less the inactive file pages, which the kernel drops first). A container there is
 * not always stopped by the kernel: while it has file pages to take — the interpreter's own
 * code among them — the kernel reclaims those, the processes read them back, and the
 * function crawls instead (no swap, no OOM kill). Within 5 % of the limit counts as full.
 * Example: limit 256 MiB, use 250 MiB, 2 MiB inactive → 248 ≥ 243.2 → full; an unlimited
 * cgroup (v1 says 2^63 − 4096, v2 "max") never is.
 */
export function memoryFull(m: CgroupMemory): boolean {
  if (!(m.limitBytes > 0) || m.limitBytes >= 2 ** 60) return false;
  return m.usageBytes - m.inactiveFileBytes >= m.limitBytes * 0.95;
}

/** This container's CgroupMemory (cgroup v2, else v1), or undefined where neither is readable. */
export function readCgroupMemory(root = "/sys/fs/cgroup"): CgroupMemory | undefined {
  const read = (f: string) => readFileSync(f, "utf8").trim();
  const statField = (stat: string, key: string) =>
    Number(new RegExp(`^${key} (\\d+)$`, "m").exec(stat)?.[1] ?? 0);
  try {
    const max = read(`${root}/memory.max`);
    return {
      usageBytes: Number(read(`${root}/memory.current`)),
      limitBytes: max === "max" ? Number.POSITIVE_INFINITY : Number(max),
      inactiveFileBytes: statField(read(`${root}/memory.stat`), "inactive_file"),
    };
  } catch {
    // not cgroup v2
  }
  try {
    return {
      usageBytes: Number(read(`${root}/memory/memory.usage_in_bytes`)),
      limitBytes: Number(read(`${root}/memory/memory.limit_in_bytes`)),
      inactiveFileBytes: statField(read(`${root}/memory/memory.stat`), "total_inactive_file"),
    };
  } catch {
    return undefined;
  }
}

/** Whether this container is at its memory limit now (false where the cgroup cannot be read). */
export function memoryFullNow(root = "/sys/fs/cgroup"): boolean {
  const m = readCgroupMemory(root);
  return m !== undefined && memoryFull(m);
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
