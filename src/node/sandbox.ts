/**
 * Sandboxes on this machine: a network namespace per pod (a veth on the host bridge, a
 * real pod IP), a mount + pid namespace per container (an overlay root on the image's
 * root, volumes bind-mounted at their mount paths, optionally read-only), and a memory
 * cgroup (v1) per container with its limit. Everything made here carries the pod UID in
 * its name, so clean-up can find it after a crash.
 */
import { execFile, spawn } from "node:child_process";
import { createHash } from "node:crypto";
import {
  existsSync,
  lstatSync,
  mkdirSync,
  openSync,
  readdirSync,
  readFileSync,
  readlinkSync,
  rmdirSync,
  rmSync,
  writeFileSync,
} from "node:fs";
import { join } from "node:path";
import { promisify } from "node:util";

const run = promisify(execFile);

export async function sh(cmd: string, args: string[]): Promise<string> {
  const { stdout } = await run(cmd, args, { maxBuffer: 16 * 1024 * 1024 });
  return stdout;
}

export async function shQuiet(cmd: string, args: string[]): Promise<void> {
  await run(cmd, args).catch(() => undefined);
}

/** Single-quotes a string for /bin/sh: it'; rm -rf / → 'it'\''; rm -rf /'. */
export function shellQuote(s: string): string {
  return `'${s.replace(/'/g, `'\\''`)}'`;
}

export const MEMORY_CGROUP_MOUNT = "/sys/fs/cgroup/memory";
export const MEMORY_CGROUP_ROOT = `${MEMORY_CGROUP_MOUNT}/updraft`;

export interface SandboxNames {
  netns: string;
  hostVeth: string;
  podDir: string;
}

/** Names for a pod's sandbox; the veth name fits IFNAMSIZ (15): "uv" + 12 hex of the UID's hash. */
export function sandboxNames(stateDir: string, uid: string): SandboxNames {
  const h = createHash("sha256").update(uid).digest("hex").slice(0, 12);
  return { netns: `updraft-${h}`, hostVeth: `uv${h}`, podDir: join(stateDir, "pods", uid) };
}

export async function ensureBridge(bridge: string, cidr: string): Promise<void> {
  await shQuiet("ip", ["link", "add", bridge, "type", "bridge"]);
  await shQuiet("ip", ["addr", "add", cidr, "dev", bridge]);
  await sh("ip", ["link", "set", bridge, "up"]);
}

export async function createNetwork(
  names: SandboxNames,
  bridge: string,
  podIP: string,
  prefix: number,
  gateway: string,
): Promise<void> {
  await deleteNetwork(names);
  await sh("ip", ["netns", "add", names.netns]);
  const peer = `${names.hostVeth}p`.slice(0, 15);
  await sh("ip", ["link", "add", names.hostVeth, "type", "veth", "peer", "name", peer]);
  await sh("ip", ["link", "set", names.hostVeth, "master", bridge, "up"]);
  await sh("ip", ["link", "set", peer, "netns", names.netns]);
  const inNs = (...args: string[]) => sh("ip", ["netns", "exec", names.netns, "ip", ...args]);
  await inNs("link", "set", peer, "name", "eth0");
  // Announce the address when eth0 comes up (gratuitous ARP), so neighbours that cached an
  // earlier pod's MAC for this IP update at once instead of timing out.
  await sh("ip", ["netns", "exec", names.netns, "sysctl", "-qw", "net.ipv4.conf.eth0.arp_notify=1"]);
  await shQuiet("ip", ["neigh", "flush", "to", podIP]);
  await inNs("addr", "add", `${podIP}/${prefix}`, "dev", "eth0");
  await inNs("link", "set", "eth0", "up");
  await inNs("link", "set", "lo", "up");
  await inNs("route", "add", "default", "via", gateway);
}

export async function deleteNetwork(names: SandboxNames): Promise<void> {
  await shQuiet("ip", ["link", "del", names.hostVeth]);
  await shQuiet("ip", ["netns", "del", names.netns]);
}

export function cgroupDir(uid: string, container: string): string {
  return join(MEMORY_CGROUP_ROOT, uid, container);
}

export function createCgroup(uid: string, container: string, limitBytes: number | undefined): string {
  const dir = cgroupDir(uid, container);
  mkdirSync(dir, { recursive: true });
  // -1 = unlimited; the kernel rounds the limit down to a page.
  writeFileSync(join(dir, "memory.limit_in_bytes"), String(limitBytes ?? -1));
  return dir;
}

export function cgroupPids(dir: string): number[] {
  try {
    return readFileSync(join(dir, "cgroup.procs"), "utf8").split("\n").filter(Boolean).map(Number);
  } catch {
    return [];
  }
}

/** How many times the kernel OOM-killed a process of this cgroup (memory.oom_control). */
export function oomKills(dir: string): number {
  try {
    const m = /oom_kill (\d+)/.exec(readFileSync(join(dir, "memory.oom_control"), "utf8"));
    return Number(m?.[1] ?? 0);
  } catch {
    return 0;
  }
}

export function killCgroup(dir: string, signal: NodeJS.Signals): void {
  for (const pid of cgroupPids(dir)) {
    try {
      process.kill(pid, signal);
    } catch {
      // already gone
    }
  }
}

export async function removeCgroup(dir: string): Promise<void> {
  if (!existsSync(dir)) return;
  for (const child of readdirSync(dir, { withFileTypes: true })) {
    if (child.isDirectory()) await removeCgroup(join(dir, child.name));
  }
  const deadline = Date.now() + 5000;
  for (;;) {
    killCgroup(dir, "SIGKILL");
    try {
      rmdirSync(dir); // a cgroup goes with rmdir once it has no processes
      return;
    } catch (err) {
      if (Date.now() > deadline) throw err;
      await new Promise((r) => setTimeout(r, 50));
    }
  }
}

export interface BindMount {
  source: string;
  target: string; // inside the container
  readOnly: boolean;
  file?: boolean;
}

export interface ContainerLaunch {
  names: SandboxNames;
  container: string;
  imageRoot: string;
  binds: BindMount[];
  readOnlyRoot: boolean;
  cgroup: string;
  uid: number;
  gid: number;
  noNewPrivs: boolean;
  workingDir: string;
  env: Record<string, string>;
  argv: string[];
  logFile: string;
  enterScript: string;
}

/**
 * A path inside an image, with symlinks resolved against the image's root rather than the
 * host's: in a Debian root /var/run → /run, so a mount at /var/run/secrets/... must go to
 * <root>/run/secrets/... Following the link on the host would mount over the host's /run.
 */
export function resolveInRoot(root: string, path: string, depth = 0): string {
  if (depth > 40) throw new Error(`too many levels of symbolic links in ${path}`);
  const parts = path.split("/").filter((p) => p && p !== ".");
  const out: string[] = [];
  for (let i = 0; i < parts.length; i++) {
    const part = parts[i]!;
    if (part === "..") {
      out.pop();
      continue;
    }
    const candidate = [...out, part];
    let link: string | undefined;
    try {
      const full = join(root, ...candidate);
      if (lstatSync(full).isSymbolicLink()) link = readlinkSync(full);
    } catch {
      // does not exist (yet): taken literally
    }
    if (link === undefined) {
      out.push(part);
      continue;
    }
    const rest = parts.slice(i + 1).join("/");
    const target = link.startsWith("/") ? link : `/${[...out, link].join("/")}`;
    return resolveInRoot(root, `${target}/${rest}`, depth + 1);
  }
  return `/${out.join("/")}`;
}

/** The setup script enter.sh sources inside the container's new mount namespace. */
export function setupScript(l: ContainerLaunch, base: string): string {
  const q = shellQuote;
  const R = `${base}/root`;
  const lines = [
    `B=${q(base)}`,
    `R=${q(R)}`,
    `mount -t tmpfs -o size=256m,mode=0755 updraft-rootfs "$B"`,
    `mkdir -p "$B/upper" "$B/work" "$R"`,
    `mount -t overlay overlay -o ${q(`lowerdir=${l.imageRoot},upperdir=${base}/upper,workdir=${base}/work`)} "$R"`,
    `mkdir -p "$R/proc" "$R/sys" "$R/dev"`,
    `mount -t proc proc "$R/proc"`,
    `mount --rbind /sys "$R/sys"`,
    `mount --rbind /dev "$R/dev"`,
  ];
  for (const b of l.binds) {
    const target = `$R${q(resolveInRoot(l.imageRoot, b.target))}`;
    if (b.file) lines.push(`mkdir -p "$(dirname ${target})"`, `[ -e ${target} ] || : > ${target}`);
    else lines.push(`mkdir -p ${target}`);
    lines.push(`mount --bind ${q(b.source)} ${target}`);
    if (b.readOnly) lines.push(`mount -o remount,bind,ro ${target}`);
  }
  // Join the memory cgroup before anything of the container's runs. `ip netns exec`
  // mounted a fresh /sys for the pod's network namespace, without /sys/fs/cgroup, so mount
  // the (existing) memory hierarchy again, privately, to reach our cgroup.
  const relative = l.cgroup.slice(MEMORY_CGROUP_MOUNT.length);
  lines.push(
    `mkdir -p "$B/cgroup"`,
    `mount -t cgroup -o memory updraft-memcg "$B/cgroup"`,
    `echo 0 > "$B/cgroup"${q(`${relative}/cgroup.procs`)}`,
    `umount "$B/cgroup"`,
  );
  if (l.readOnlyRoot) lines.push(`mount -o remount,ro "$R"`);
  return `${lines.join("\n")}\n`;
}

/** argv run after setup: chroot into the root, drop to the container's user, exec with its env. */
export function containerArgv(l: ContainerLaunch, base: string): string[] {
  const argv = ["chroot", `${base}/root`];
  if (l.uid !== 0 || l.gid !== 0 || l.noNewPrivs) {
    argv.push("/usr/bin/setpriv", `--reuid=${l.uid}`, `--regid=${l.gid}`, "--clear-groups");
    if (l.noNewPrivs) argv.push("--no-new-privs");
    if (l.uid !== 0) argv.push("--inh-caps=-all", "--bounding-set=-all");
    argv.push("--");
  }
  argv.push("/usr/bin/env", "-i", "-C", l.workingDir);
  for (const [k, v] of Object.entries(l.env)) argv.push(`${k}=${v}`);
  argv.push(...l.argv); // env has no "--" after assignments: the next word is the command
  return argv;
}

export interface Launched {
  pid: number;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

export function launch(l: ContainerLaunch): Launched {
  const base = join(l.names.podDir, "containers", l.container);
  mkdirSync(base, { recursive: true });
  const script = join(l.names.podDir, `setup-${l.container}.sh`);
  writeFileSync(script, setupScript(l, base));
  const log = openSync(l.logFile, "a");
  const child = spawn(
    "ip",
    [
      "netns",
      "exec",
      l.names.netns,
      // No pid namespace: util-linux's `unshare --fork` reports a child killed by a signal
      // as exit 1, and the exit signal is how an OOM kill or a SIGTERM shows. Every step
      // execs, so the process the agent spawned *is* the container's main process.
      "unshare",
      "--mount",
      "--propagation",
      "private",
      "--",
      "/bin/sh",
      l.enterScript,
      script,
      ...containerArgv(l, base),
    ],
    { stdio: ["ignore", log, log], detached: true },
  );
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => {
    child.once("exit", (code, signal) => resolve({ code, signal }));
    child.once("error", () => resolve({ code: 127, signal: null }));
  });
  return { pid: child.pid ?? -1, exited };
}

/** tmpfs for an emptyDir: size from sizeLimit, world-writable as on a kubelet. */
export async function mountTmpfs(dir: string, sizeBytes: number | undefined): Promise<void> {
  mkdirSync(dir, { recursive: true });
  const opts = ["mode=1777", ...(sizeBytes ? [`size=${Math.ceil(sizeBytes)}`] : [])].join(",");
  await sh("mount", ["-t", "tmpfs", "-o", opts, "updraft-emptydir", dir]);
}

/** Unmounts everything under a directory, deepest first, then removes it. */
export async function unmountTree(dir: string): Promise<void> {
  const mounts = readFileSync("/proc/mounts", "utf8")
    .split("\n")
    .map((l) => l.split(" ")[1] ?? "")
    .map((p) => p.replace(/\\040/g, " "))
    .filter((p) => p === dir || p.startsWith(`${dir}/`))
    .sort((a, b) => b.length - a.length);
  for (const m of mounts) await shQuiet("umount", ["-l", m]);
  rmSync(dir, { recursive: true, force: true });
}
