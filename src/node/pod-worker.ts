/**
 * One pod on this node: its sandbox, its containers' processes, restarts with the
 * kubelet's back-off, probes, status, and graceful termination. The agent owns one
 * PodWorker per pod bound to the node.
 */
import { randomBytes } from "node:crypto";
import { existsSync, mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import type { V1Container, V1Pod, V1PodStatus, V1Volume } from "@kubernetes/client-node";
import type { Logger } from "../lib/logger.ts";
import { type ImageEntry, resolveImage } from "./images.ts";
import {
  buildPodStatus,
  ContainerConfigError,
  type ContainerState,
  containerUser,
  expandVars,
  type Lookups,
  type NodeFacts,
  parseQuantity,
  resolveEnv,
  restartBackoffMs,
} from "./podspec.ts";
import { nsenterExec, runProbe } from "./probes.ts";
import {
  type BindMount,
  cgroupDir,
  createCgroup,
  createNetwork,
  deleteNetwork,
  killCgroup,
  launch,
  oomKills,
  removeCgroup,
  type SandboxNames,
  sandboxNames,
  unmountTree,
} from "./sandbox.ts";
import { type MaterializedVolume, materializeVolume, type VolumeApi } from "./volumes.ts";

export interface PodWorkerDeps {
  nodeName: string;
  hostIP: string;
  bridge: string;
  podPrefix: number;
  apiServiceHost: string;
  apiServicePort: number;
  clusterDomain: string;
  stateDir: string;
  enterScript: string;
  images: readonly ImageEntry[];
  restartBackoffBaseMs: number;
  volumeApi: VolumeApi;
  allocateIP(uid: string): string;
  releaseIP(uid: string): void;
  hostsFile(pod: V1Pod, podIP: string): string;
  reportStatus(pod: V1Pod, status: V1PodStatus): void;
  deletePod(pod: V1Pod): Promise<void>;
  log: Logger;
  now: () => Date;
}

interface Running {
  spec: V1Container;
  state: ContainerState;
  cgroup: string;
  root: string;
  uid: number;
  gid: number;
  env: Record<string, string>;
  workingDir: string;
  timers: NodeJS.Timeout[];
  probeFailures: { liveness: number; readiness: number; startup: number };
  probeSuccesses: { readiness: number };
  oomBefore: number;
  stopping: boolean;
  exited?: Promise<unknown>;
  pid?: number;
  logIndex: number;
}

export class PodWorker {
  pod: V1Pod;
  readonly names: SandboxNames;
  podIP: string | undefined;
  private readonly d: PodWorkerDeps;
  private readonly containers = new Map<string, Running>();
  private readonly startTime: Date;
  private sandboxReady = false;
  private terminating = false;
  private terminated = false;
  private tokenTimer: NodeJS.Timeout | undefined;
  private readonly volumes = new Map<string, Promise<MaterializedVolume>>();

  constructor(pod: V1Pod, deps: PodWorkerDeps) {
    this.pod = pod;
    this.d = deps;
    this.names = sandboxNames(deps.stateDir, pod.metadata!.uid!);
    this.startTime = deps.now();
    for (const c of pod.spec?.containers ?? []) {
      this.containers.set(c.name, {
        spec: c,
        state: {
          name: c.name,
          image: c.image ?? "",
          restartCount: 0,
          ready: false,
          started: false,
          everRan: false,
          state: { kind: "waiting", reason: "ContainerCreating" },
        },
        cgroup: cgroupDir(pod.metadata!.uid!, c.name),
        root: join(this.names.podDir, "containers", c.name, "root"),
        uid: 0,
        gid: 0,
        env: {},
        workingDir: "/",
        timers: [],
        probeFailures: { liveness: 0, readiness: 0, startup: 0 },
        probeSuccesses: { readiness: 0 },
        oomBefore: 0,
        stopping: false,
        logIndex: 0,
      });
    }
  }

  private get key(): string {
    return `${this.pod.metadata?.namespace}/${this.pod.metadata?.name}`;
  }

  private facts(): NodeFacts {
    return {
      hostIP: this.d.hostIP,
      podIP: this.podIP ?? "",
      apiServiceHost: this.d.apiServiceHost,
      apiServicePort: this.d.apiServicePort,
    };
  }

  report(): void {
    if (this.terminated) return;
    const status = buildPodStatus(
      this.pod,
      [...this.containers.values()].map((c) => c.state),
      {
        hostIP: this.d.hostIP,
        ...(this.podIP ? { podIP: this.podIP } : {}),
        startTime: this.startTime,
        sandboxReady: this.sandboxReady,
      },
      this.d.now(),
    );
    this.d.reportStatus(this.pod, status);
  }

  /** Creates the sandbox, then starts every container. */
  async start(): Promise<void> {
    const uid = this.pod.metadata!.uid!;
    mkdirSync(join(this.names.podDir, "logs"), { recursive: true });
    writeFileSync(join(this.names.podDir, "pod.json"), JSON.stringify({ uid, key: this.key }));
    this.podIP = this.d.allocateIP(uid);
    await createNetwork(this.names, this.d.bridge, this.podIP, this.d.podPrefix, this.d.hostIP);
    this.writeHosts();
    this.writeResolvConf();
    this.sandboxReady = true;
    this.report();
    await Promise.all([...this.containers.values()].map((c) => this.startContainer(c)));
  }

  writeHosts(): void {
    if (!this.podIP) return;
    writeFileSync(join(this.names.podDir, "hosts"), this.d.hostsFile(this.pod, this.podIP));
  }

  /**
   * Names resolve from the hosts file; the nameserver is the host's bridge address, where
   * nothing answers DNS, so any other lookup fails at once instead of waiting out an
   * unreachable server (python's http.server looks up its own address at start: 10 s).
   */
  private writeResolvConf(): void {
    const ns = this.pod.metadata!.namespace!;
    const domain = this.d.clusterDomain;
    writeFileSync(
      join(this.names.podDir, "resolv.conf"),
      `nameserver ${this.d.hostIP}\nsearch ${ns}.svc.${domain} svc.${domain} ${domain}\noptions ndots:5 timeout:1 attempts:1\n`,
    );
  }

  private async volumeBinds(c: Running): Promise<BindMount[]> {
    const binds: BindMount[] = [];
    const volumes = new Map((this.pod.spec?.volumes ?? []).map((v) => [v.name, v]));
    for (const m of c.spec.volumeMounts ?? []) {
      const v = volumes.get(m.name);
      if (!v) throw new ContainerConfigError(`volumeMount ${m.name} names no volume`);
      const mat = await this.volume(v);
      const source = m.subPath ? join(mat.hostPath, m.subPath) : mat.hostPath;
      binds.push({ source, target: m.mountPath, readOnly: !!m.readOnly });
    }
    return binds;
  }

  /**
   * A volume of the pod, made once and shared by every container that mounts it (two
   * containers mounting one emptyDir see the same files); `again` re-makes it, for token
   * refresh.
   */
  private volume(v: V1Volume, again = false): Promise<MaterializedVolume> {
    let made = this.volumes.get(v.name);
    if (!made || again) {
      made = materializeVolume(
        this.pod,
        v,
        this.names.podDir,
        this.d.volumeApi,
        this.facts(),
        this.d.now,
      ).then((m) => {
        if (m.refreshAt) this.scheduleTokenRefresh(m.refreshAt);
        return m;
      });
      // A failure is not cached: the next container start tries again.
      made.catch(() => this.volumes.delete(v.name));
      this.volumes.set(v.name, made);
    }
    return made;
  }

  /** Re-materialises projected volumes (service-account tokens) before their tokens expire. */
  private scheduleTokenRefresh(at: Date): void {
    if (this.tokenTimer) return;
    const delay = Math.max(1000, at.getTime() - this.d.now().getTime());
    this.tokenTimer = setTimeout(async () => {
      this.tokenTimer = undefined;
      if (this.terminating) return;
      for (const v of this.pod.spec?.volumes ?? []) {
        if (!v.projected) continue;
        try {
          await this.volume(v, true);
        } catch (err) {
          this.d.log.warn("token refresh failed", { pod: this.key, err: String(err) });
          this.scheduleTokenRefresh(new Date(this.d.now().getTime() + 10_000));
        }
      }
    }, delay);
    this.tokenTimer.unref();
  }

  private lookups(): Promise<Lookups> {
    // Fetch what env references, once per start.
    const ns = this.pod.metadata!.namespace!;
    const cms = new Set<string>();
    const secrets = new Set<string>();
    for (const c of this.pod.spec?.containers ?? []) {
      for (const e of c.env ?? []) {
        if (e.valueFrom?.configMapKeyRef?.name) cms.add(e.valueFrom.configMapKeyRef.name);
        if (e.valueFrom?.secretKeyRef?.name) secrets.add(e.valueFrom.secretKeyRef.name);
      }
      for (const f of c.envFrom ?? []) {
        if (f.configMapRef?.name) cms.add(f.configMapRef.name);
        if (f.secretRef?.name) secrets.add(f.secretRef.name);
      }
    }
    return (async () => {
      const cmData = new Map<string, Record<string, string>>();
      const secretData = new Map<string, Record<string, string>>();
      for (const n of cms) {
        const cm = await this.d.volumeApi.configMap(ns, n);
        if (cm) cmData.set(n, cm.data ?? {});
      }
      for (const n of secrets) {
        const s = await this.d.volumeApi.secret(ns, n);
        if (s) {
          const data: Record<string, string> = {};
          for (const [k, v] of Object.entries(s.data ?? {})) data[k] = Buffer.from(v, "base64").toString();
          secretData.set(n, data);
        }
      }
      return { configMap: (n: string) => cmData.get(n), secret: (n: string) => secretData.get(n) };
    })();
  }

  private setState(c: Running, state: ContainerState["state"]): void {
    c.state = { ...c.state, state };
    this.report();
  }

  private async startContainer(c: Running): Promise<void> {
    if (this.terminating) return;
    const image = resolveImage(this.d.images, c.spec.image ?? "");
    if (!image) {
      // As a failed pull: the pod cannot start this container.
      this.setState(c, {
        kind: "waiting",
        reason: "ErrImagePull",
        message: `image ${c.spec.image} is not in this node's image table (hack/node-images.yaml)`,
      });
      return;
    }
    let binds: BindMount[];
    try {
      const lookups = await this.lookups();
      c.env = resolveEnv(this.pod, c.spec, lookups, this.facts(), image.env);
      ({ uid: c.uid, gid: c.gid } = containerUser(this.pod, c.spec));
      binds = [
        ...image.binds.map((b) => ({ source: b.hostPath, target: b.path, readOnly: true })),
        ...(await this.volumeBinds(c)),
        { source: join(this.names.podDir, "hosts"), target: "/etc/hosts", readOnly: true, file: true },
        {
          source: join(this.names.podDir, "resolv.conf"),
          target: "/etc/resolv.conf",
          readOnly: true,
          file: true,
        },
      ];
    } catch (err) {
      const reason = err instanceof ContainerConfigError ? err.reason : "CreateContainerError";
      this.setState(c, { kind: "waiting", reason, message: (err as Error).message });
      // The kubelet retries config errors; a ConfigMap may appear later.
      this.later(c, () => this.startContainer(c), 5000);
      return;
    }
    const argv = [...(c.spec.command ?? []), ...(c.spec.args ?? [])].map((a) => expandVars(a, c.env));
    if (argv.length === 0) {
      this.setState(c, { kind: "waiting", reason: "RunContainerError", message: "no command specified" });
      return;
    }
    c.env.PATH ??= "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";
    c.workingDir = c.spec.workingDir ?? image.workingDir ?? "/";
    const limit = c.spec.resources?.limits?.memory;
    await removeCgroup(c.cgroup);
    createCgroup(this.pod.metadata!.uid!, c.spec.name, limit ? parseQuantity(String(limit)) : undefined);
    c.oomBefore = oomKills(c.cgroup);
    const logFile = join(this.names.podDir, "logs", `${c.spec.name}-${c.state.restartCount}.log`);
    writeFileSync(logFile, "");
    c.logIndex = c.state.restartCount;
    const containerID = `updraft://${randomBytes(16).toString("hex")}`;
    const sc = c.spec.securityContext;
    const launched = launch({
      names: this.names,
      container: c.spec.name,
      imageRoot: image.root,
      binds,
      readOnlyRoot: !!sc?.readOnlyRootFilesystem,
      cgroup: c.cgroup,
      uid: c.uid,
      gid: c.gid,
      noNewPrivs: sc?.allowPrivilegeEscalation === false,
      workingDir: c.workingDir,
      env: c.env,
      argv,
      logFile,
      enterScript: this.d.enterScript,
    });
    const startedAt = this.d.now();
    c.stopping = false;
    c.state = { ...c.state, containerID, everRan: true, ready: false, started: false };
    c.probeFailures = { liveness: 0, readiness: 0, startup: 0 };
    c.probeSuccesses = { readiness: 0 };
    this.setState(c, { kind: "running", startedAt });
    c.pid = launched.pid;
    this.d.log.info("container started", { pod: this.key, container: c.spec.name, pid: launched.pid });
    this.startProbes(c);
    c.exited = launched.exited.then((r) => this.onExit(c, r, startedAt));
  }

  private onExit(
    c: Running,
    r: { code: number | null; signal: NodeJS.Signals | null },
    startedAt: Date,
  ): void {
    for (const t of c.timers.splice(0)) clearTimeout(t);
    const signals: Record<string, number> = { SIGKILL: 9, SIGTERM: 15, SIGINT: 2, SIGABRT: 6, SIGSEGV: 11 };
    const exitCode = r.code ?? 128 + (signals[r.signal ?? ""] ?? 0);
    const oom = oomKills(c.cgroup) > c.oomBefore;
    const reason = oom ? "OOMKilled" : exitCode === 0 ? "Completed" : "Error";
    killCgroup(c.cgroup, "SIGKILL"); // nothing of the container outlives its main process
    const terminated = {
      kind: "terminated" as const,
      exitCode: oom && exitCode === 0 ? 137 : exitCode,
      reason,
      startedAt,
      finishedAt: this.d.now(),
      ...(r.signal ? { signal: signals[r.signal] ?? 0 } : {}),
    };
    c.state = { ...c.state, ready: false, started: false, state: terminated };
    this.d.log.info("container exited", { pod: this.key, container: c.spec.name, exitCode, reason });
    if (this.terminating) {
      this.report();
      return;
    }
    const policy = this.pod.spec?.restartPolicy ?? "Always";
    const restart = policy === "Always" || (policy === "OnFailure" && exitCode !== 0);
    if (!restart) {
      this.report();
      return;
    }
    // CrashLoopBackOff, as the kubelet reports it.
    c.state = {
      ...c.state,
      last: { ...terminated, containerID: c.state.containerID },
      restartCount: c.state.restartCount + 1,
    };
    const ranMs = terminated.finishedAt.getTime() - startedAt.getTime();
    const delay = ranMs > 600_000 ? 0 : restartBackoffMs(c.state.restartCount, this.d.restartBackoffBaseMs);
    const pod = `${this.pod.metadata?.name}_${this.pod.metadata?.namespace}(${this.pod.metadata?.uid})`;
    this.setState(c, {
      kind: "waiting",
      reason: "CrashLoopBackOff",
      message: `back-off ${Math.round(delay / 1000)}s restarting failed container=${c.spec.name} pod=${pod}`,
    });
    this.later(c, () => this.startContainer(c), delay);
  }

  private later(c: Running, fn: () => Promise<void>, ms: number): void {
    const t = setTimeout(() => {
      c.timers = c.timers.filter((x) => x !== t);
      fn().catch((err: unknown) =>
        this.d.log.error("container start failed", { pod: this.key, err: String(err) }),
      );
    }, ms);
    c.timers.push(t);
  }

  private startProbes(c: Running): void {
    const execIn = () => {
      const pid = c.pid;
      if (!pid) return async () => 1;
      return nsenterExec(pid, c.root, c.uid, c.gid, c.env, c.workingDir);
    };
    const probe = (kind: "startup" | "liveness" | "readiness") => {
      const spec =
        kind === "startup"
          ? c.spec.startupProbe
          : kind === "liveness"
            ? c.spec.livenessProbe
            : c.spec.readinessProbe;
      return spec;
    };
    const schedule = (kind: "startup" | "liveness" | "readiness", first: boolean) => {
      const p = probe(kind);
      if (!p || c.stopping || this.terminating) return;
      const delay = first ? (p.initialDelaySeconds ?? 0) * 1000 : (p.periodSeconds ?? 10) * 1000;
      const t = setTimeout(async () => {
        c.timers = c.timers.filter((x) => x !== t);
        if (c.state.state.kind !== "running" || c.stopping) return;
        if (kind !== "startup" && c.spec.startupProbe && !c.state.started) {
          schedule(kind, false);
          return;
        }
        const ok = await runProbe(p, this.podIP ?? "", c.spec, (argv, ms) => execIn()(argv, ms));
        if (c.state.state.kind !== "running" || c.stopping) return;
        this.onProbe(c, kind, ok);
        if (!(kind === "startup" && c.state.started)) schedule(kind, false);
      }, delay);
      c.timers.push(t);
    };
    if (c.spec.startupProbe) schedule("startup", true);
    else c.state = { ...c.state, started: true };
    schedule("liveness", true);
    if (c.spec.readinessProbe) schedule("readiness", true);
    else if (c.state.started) c.state = { ...c.state, ready: true };
    this.report();
  }

  private onProbe(c: Running, kind: "startup" | "liveness" | "readiness", ok: boolean): void {
    const p = (
      kind === "startup"
        ? c.spec.startupProbe
        : kind === "liveness"
          ? c.spec.livenessProbe
          : c.spec.readinessProbe
    )!;
    if (kind === "readiness") {
      if (ok) {
        c.probeFailures.readiness = 0;
        c.probeSuccesses.readiness++;
        if (!c.state.ready && c.probeSuccesses.readiness >= (p.successThreshold ?? 1)) {
          c.state = { ...c.state, ready: true };
          this.report();
        }
      } else {
        c.probeSuccesses.readiness = 0;
        if (++c.probeFailures.readiness >= (p.failureThreshold ?? 3) && c.state.ready) {
          c.state = { ...c.state, ready: false };
          this.report();
        }
      }
      return;
    }
    if (ok) {
      c.probeFailures[kind] = 0;
      if (kind === "startup") {
        c.state = { ...c.state, started: true, ready: c.spec.readinessProbe ? c.state.ready : true };
        this.report();
      }
      return;
    }
    if (++c.probeFailures[kind] >= (p.failureThreshold ?? 3)) {
      this.d.log.info("probe failed; restarting container", { pod: this.key, container: c.spec.name, kind });
      void this.stopContainer(c, this.gracePeriodSeconds());
    }
  }

  private gracePeriodSeconds(): number {
    return (
      this.pod.metadata?.deletionGracePeriodSeconds ?? this.pod.spec?.terminationGracePeriodSeconds ?? 30
    );
  }

  /** SIGTERM to the main process, SIGKILL to everything after the grace period. */
  private async stopContainer(c: Running, graceSeconds: number): Promise<void> {
    if (c.state.state.kind !== "running") return;
    c.stopping = true;
    for (const t of c.timers.splice(0)) clearTimeout(t);
    const pid = c.pid;
    if (pid) {
      try {
        process.kill(pid, "SIGTERM");
      } catch {
        // gone
      }
    }
    const exited = c.exited ?? Promise.resolve();
    const timeout = new Promise((r) => setTimeout(r, graceSeconds * 1000).unref());
    await Promise.race([exited, timeout]);
    killCgroup(c.cgroup, "SIGKILL");
    await exited;
  }

  update(pod: V1Pod): void {
    this.pod = pod;
    if (pod.metadata?.deletionTimestamp && !this.terminating) void this.terminate();
  }

  /** Graceful deletion: SIGTERM, the grace period, SIGKILL, clean-up, then the final delete. */
  async terminate(): Promise<void> {
    if (this.terminating) return;
    this.terminating = true;
    const grace = this.gracePeriodSeconds();
    this.d.log.info("terminating pod", { pod: this.key, graceSeconds: grace });
    for (const c of this.containers.values()) {
      c.state = { ...c.state, ready: false };
    }
    this.report();
    await Promise.all([...this.containers.values()].map((c) => this.stopContainer(c, grace)));
    await this.cleanup();
    this.terminated = true;
    await this.d.deletePod(this.pod);
  }

  /** Removes every trace of the pod from the machine. */
  async cleanup(): Promise<void> {
    if (this.tokenTimer) clearTimeout(this.tokenTimer);
    for (const c of this.containers.values()) {
      for (const t of c.timers.splice(0)) clearTimeout(t);
      killCgroup(c.cgroup, "SIGKILL");
    }
    await Promise.all([...this.containers.values()].map((c) => c.exited));
    await removeCgroup(join(cgroupDir(this.pod.metadata!.uid!, "x"), ".."));
    await deleteNetwork(this.names);
    await unmountTree(this.names.podDir);
    this.d.releaseIP(this.pod.metadata!.uid!);
  }

  /** Log file of a container: the current run, or the previous one. */
  logFile(container: string, previous: boolean): string | undefined {
    const c = this.containers.get(container);
    if (!c) return undefined;
    const index = previous ? c.state.restartCount - 1 : c.logIndex;
    if (index < 0) return undefined;
    const file = join(this.names.podDir, "logs", `${container}-${index}.log`);
    return existsSync(file) ? file : undefined;
  }

  get isTerminated(): boolean {
    return this.terminated;
  }
}
