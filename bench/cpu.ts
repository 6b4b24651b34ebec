/**
 * Where a machine's CPU time goes while a bench runs: the whole machine's busy time from
 * /proc/stat, and each process's own (utime + stime from /proc/<pid>/stat) summed into
 * named groups by its command line. On a saturated machine throughput is 2 cores divided by
 * the CPU every request costs, so "CPU per request, by group" says what a path costs and
 * who pays it — steadier than a throughput ratio, which moves with whatever else runs.
 *
 *   const before = sampleCpu();  …load…  const spent = cpuSpent(before, sampleCpu(), GROUPS);
 *   // spent: { machine: 20130, activator: 7020, function: 5110, … } (ms over the run)
 */
import { readdirSync, readFileSync } from "node:fs";

/** Clock ticks per second for /proc's times: 100 on every Linux that Kubernetes runs on. */
const TICKS_PER_SECOND = 100;

export interface CpuSample {
  /** The machine's busy ticks: user, nice, system, irq, softirq and steal of /proc/stat's "cpu" line. */
  busy: number;
  /** Of which softirq: network processing the kernel does outside any process's own time. */
  softirq: number;
  /** Each process's ticks so far, with its command line. */
  processes: Map<number, { command: string; ticks: number; systemTicks: number }>;
}

export function sampleCpu(proc = "/proc"): CpuSample {
  // cpu  user nice system idle iowait irq softirq steal guest guest_nice
  const f = readFileSync(`${proc}/stat`, "utf8").split("\n")[0]!.trim().split(/\s+/).slice(1).map(Number);
  const [user, nice, system, , , irq, softirq, steal] = f as [number, ...number[]];
  const processes = new Map<number, { command: string; ticks: number; systemTicks: number }>();
  for (const name of readdirSync(proc)) {
    if (!/^\d+$/.test(name)) continue;
    try {
      const stat = readFileSync(`${proc}/${name}/stat`, "utf8");
      const after = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
      const comm = stat.slice(stat.indexOf("(") + 1, stat.lastIndexOf(")"));
      const cmdline = readFileSync(`${proc}/${name}/cmdline`, "utf8").replaceAll("\0", " ").trim();
      // Fields 14 and 15 (utime, stime) are the 12th and 13th after the name.
      processes.set(Number(name), {
        command: cmdline || `[${comm}]`,
        ticks: Number(after[11]) + Number(after[12]),
        systemTicks: Number(after[12]),
      });
    } catch {
      // gone between the listing and the read
    }
  }
  return { busy: user + nice! + system! + irq! + softirq! + steal!, softirq: softirq!, processes };
}

/** A group's name and how to know its processes by their command lines. */
export type CpuGroups = ReadonlyArray<readonly [name: string, matches: (command: string) => boolean]>;

/**
 * Milliseconds of CPU between two samples: "machine" (all of it), "softirq", each group with
 * "<group>.kernel" (the part of it spent in system calls: sockets, the pod network), and
 * "other" (processes of no group, and those that ended in between). A process counts in the
 * first group that matches it. Example: the machine busy for 2,013 ticks, the activators'
 * processes for 702 of which 260 in the kernel → { machine: 20130, activator: 7020,
 * "activator.kernel": 2600, … }.
 */
export function cpuSpent(before: CpuSample, after: CpuSample, groups: CpuGroups): Record<string, number> {
  const ms = (ticks: number) => (ticks * 1000) / TICKS_PER_SECOND;
  const machine = ms(after.busy - before.busy);
  const softirq = ms(after.softirq - before.softirq);
  const spent: Record<string, number> = { machine, softirq };
  let grouped = 0;
  for (const [name] of groups) {
    spent[name] = 0;
    spent[`${name}.kernel`] = 0;
  }
  for (const [pid, p] of after.processes) {
    const was = before.processes.get(pid);
    const delta = p.ticks - (was?.ticks ?? 0);
    if (delta <= 0) continue;
    const group = groups.find(([, matches]) => matches(p.command));
    if (!group) continue;
    spent[group[0]]! += ms(delta);
    spent[`${group[0]}.kernel`]! += ms(p.systemTicks - (was?.systemTicks ?? 0));
    grouped += ms(delta);
  }
  spent.other = Math.max(0, machine - softirq - grouped);
  return spent;
}
