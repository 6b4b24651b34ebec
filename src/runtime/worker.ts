/**
 * One language worker and the SCF runtime API it speaks to (on 127.0.0.1:<port>):
 *   POST /runtime/init/ready          init done (first call counts)
 *   GET  /runtime/invocation/next     long poll; body = event; headers request_id,
 *                                     memory_limit_in_mb, time_limit_in_ms
 *   POST /runtime/invocation/response the result (first post is final)
 *   POST /runtime/invocation/error    the failure (first post is final)
 * and, for a worker pre-started in a warm-pool instance (POOL_WORKER_ENV set), before all
 * of these:
 *   GET  /runtime/updraft/specialise  long poll; body = {"env": {…}}, the function's
 *                                     environment, once the instance is specialised
 */

import { type ChildProcess, spawn } from "node:child_process";
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import { RUNTIME_TRIGGER_SOURCE_HEADER } from "../protocol/triggers.ts";
import { withOpenFilesLimit } from "./limits.ts";
import { readMemoryByGroup } from "./memory.ts";

export type Outcome =
  | { kind: "response"; body: Buffer }
  | { kind: "error"; body: Buffer }
  | { kind: "exited"; code: number | null; signal: NodeJS.Signals | null }
  /**
   * Over memoryMB: stopped by the shim, or killed by the kernel's OOM killer, or (stalled)
   * out of time with its container's memory full (memory.ts, memoryFull).
   */
  | { kind: "memory"; usedBytes: number; stalled?: boolean }
  | { kind: "timeout" };

interface Pending {
  id: string;
  event: Buffer;
  delivered: boolean;
  settle: (o: Outcome) => void;
  triggerSource?: string;
}

export interface WorkerSpec {
  argv: string[];
  cwd: string;
  env: Record<string, string>;
  port: number;
  memoryMB: number;
  timeLimitMs: number;
  onOutput: (chunk: Buffer) => void;
  /** Memory by process group (memory.ts); absent: /proc read on each ask. */
  memoryByGroup?: () => Map<number, number>;
  /** The cgroup's OOM-kill count (memory.ts), to tell an OOM kill from a crash. */
  oomKills?: () => number | undefined;
  /**
   * Pre-started in a warm-pool instance: the bootstrap starts, then waits (before loading
   * any handler) for the function's environment, which handOver() gives it.
   */
  pooled?: boolean;
}

/** Set in a pre-started worker's environment: its bootstrap asks for the function's first. */
export const POOL_WORKER_ENV = "UPDRAFT_POOL_WORKER";
/** Where a pre-started worker's bootstrap long-polls for the function's environment. */
export const POOL_WORKER_SPECIALISE_PATH = "/runtime/updraft/specialise";

/** What the shim needs of a worker: a language process (Worker) or an image's server (ImageWorker). */
export interface InvocationWorker {
  readonly busy: boolean;
  readonly exited: boolean;
  readonly pid: number | undefined;
  lastRssBytes: number;
  peakRssBytes: number;
  /** Resolves when the worker can take events; rejects if it ends first. */
  initDone: Promise<void>;
  listen(): Promise<void>;
  start(): void;
  invoke(id: string, event: Buffer, timeoutMs: number, triggerSource?: string): Promise<Outcome>;
  abortCurrent(o: Outcome): void;
  kill(): void;
  waitExit(): Promise<void>;
  memUsageBytes(): number;
  close(): Promise<void>;
}

/**
 * What a worker's exit during an invocation was. The cgroup's OOM-kill count going up
 * while it ran means the kernel stopped a function that outgrew memoryMB faster than the
 * shim sampled it: 434, whatever the worker's own exit looked like — the killed process
 * may be the worker (SIGKILL) or a child it started, as the Go bootstrap's function
 * binary, after which the bootstrap exits 1 on its own. Example: exit code 1, OOM count
 * 3 → 4 → memory; exit code 1, count 3 → 3 → exited (439); count unreadable → exited.
 */
export function exitOutcome(e: {
  code: number | null;
  signal: NodeJS.Signals | null;
  oomKillsAtStart: number | undefined;
  oomKillsNow: number | undefined;
  lastRssBytes: number;
}): Outcome {
  const oomKilled =
    e.oomKillsNow !== undefined && e.oomKillsAtStart !== undefined && e.oomKillsNow > e.oomKillsAtStart;
  return oomKilled
    ? { kind: "memory", usedBytes: e.lastRssBytes }
    : { kind: "exited", code: e.code, signal: e.signal };
}

/**
 * What an answer the worker posted was. A child the function started that outgrew memoryMB
 * is killed by the kernel, and the function may still answer after it (a custom bootstrap's
 * `head -c 256M /dev/zero | tail -n 1` is OOM-killed and the script goes on to post its
 * result): the OOM-kill count going up while it ran makes that 434 all the same, as SCF
 * has it, whichever of the shim's sampler and the kernel got there first. Example: a
 * response with the count 2 → 3 → memory; 2 → 2 → the response.
 */
export function answerOutcome(a: {
  kind: "response" | "error";
  body: Buffer;
  oomKillsAtStart: number | undefined;
  oomKillsNow: number | undefined;
  lastRssBytes: number;
}): Outcome {
  const oomKilled =
    a.oomKillsNow !== undefined && a.oomKillsAtStart !== undefined && a.oomKillsNow > a.oomKillsAtStart;
  return oomKilled ? { kind: "memory", usedBytes: a.lastRssBytes } : { kind: a.kind, body: a.body };
}

export class Worker implements InvocationWorker {
  /** Replaced once, by handOver(): from then on the worker is (and restarts as) the function's. */
  spec: WorkerSpec;
  /** A pre-started worker's long poll for the function's environment, until handOver(). */
  private specialisePoll: ServerResponse | undefined;
  private pooledWaitingResolve: (() => void) | undefined;
  /** Resolves when a pre-started worker's bootstrap is up and waiting for its function. */
  pooledWaiting: Promise<void> = Promise.resolve();
  private proc: ChildProcess | undefined;
  private server: Server | undefined;
  private poll: ServerResponse | undefined;
  private current: Pending | undefined;
  private initResolve: (() => void) | undefined;
  /** Resolves when the worker called /runtime/init/ready; rejects if it exits first. */
  initDone: Promise<void> = Promise.resolve();
  exited = false;
  /** The worker's group's resident memory at the last sample (the shim's memory watch). */
  lastRssBytes = 0;
  /** The most seen during the current invocation: the Report line's MemUsage. */
  peakRssBytes = 0;
  private oomKillsAtStart: number | undefined;

  constructor(spec: WorkerSpec) {
    this.spec = spec;
  }

  async listen(): Promise<void> {
    this.server = createServer((req, res) => this.handle(req, res));
    this.server.keepAliveTimeout = 60_000;
    await new Promise<void>((resolve, reject) => {
      this.server!.once("error", reject);
      this.server!.listen(this.spec.port, "127.0.0.1", () => resolve());
    });
  }

  /** Starts the worker process; initDone settles when it reports ready or dies. */
  start(): void {
    this.exited = false;
    let initReject: (err: Error) => void = () => undefined;
    this.initDone = new Promise<void>((resolve, reject) => {
      this.initResolve = resolve;
      initReject = reject;
    });
    this.initDone.catch(() => undefined);
    let pooledReject: (err: Error) => void = () => undefined;
    this.pooledWaiting = new Promise<void>((resolve, reject) => {
      this.pooledWaitingResolve = resolve;
      pooledReject = reject;
    });
    this.pooledWaiting.catch(() => undefined);
    if (!this.spec.pooled) this.pooledWaitingResolve?.();
    // Through the shell's ulimit: 1,024 open files, as SCF (runtime/limits.ts).
    const [cmd, ...args] = withOpenFilesLimit(this.spec.argv);
    const proc = spawn(cmd!, args, {
      cwd: this.spec.cwd,
      env: this.spec.pooled ? { ...this.spec.env, [POOL_WORKER_ENV]: "1" } : this.spec.env,
      stdio: ["ignore", "pipe", "pipe"],
      detached: true, // its own process group, so a kill takes its children too
    });
    this.proc = proc;
    proc.stdout?.on("data", (b: Buffer) => this.spec.onOutput(b));
    proc.stderr?.on("data", (b: Buffer) => this.spec.onOutput(b));
    const onExit = (code: number | null, signal: NodeJS.Signals | null) => {
      if (this.proc !== proc) return;
      this.exited = true;
      initReject(new Error(`worker exited during init (code ${code}, signal ${signal})`));
      pooledReject(new Error(`pre-started worker exited (code ${code}, signal ${signal})`));
      this.poll = undefined;
      const cur = this.current;
      this.current = undefined;
      cur?.settle(
        exitOutcome({
          code,
          signal,
          oomKillsAtStart: this.oomKillsAtStart,
          oomKillsNow: this.spec.oomKills?.(),
          lastRssBytes: this.lastRssBytes,
        }),
      );
    };
    proc.once("exit", onExit);
    proc.once("error", (err) => {
      this.spec.onOutput(Buffer.from(`failed to start ${cmd}: ${err.message}\n`));
      onExit(127, null);
    });
  }

  /**
   * Gives a pre-started worker its function (the spec a worker started for it would have,
   * same command and port): the environment its bootstrap takes on before it loads the handler (initDone then settles as for a worker started with it). From
   * here the worker is the function's — a restart starts it with this environment.
   */
  handOver(next: WorkerSpec): void {
    this.spec = { ...next, pooled: false };
    this.answerSpecialisePoll();
  }

  private answerSpecialisePoll(): void {
    const res = this.specialisePoll;
    // Still pooled: no function yet, the poll waits.
    if (!res || this.spec.pooled) return;
    this.specialisePoll = undefined;
    res.writeHead(200, { "Content-Type": "application/json" });
    res.end(JSON.stringify({ env: this.spec.env }));
  }

  kill(): void {
    const p = this.proc;
    if (!p?.pid || this.exited) return;
    try {
      process.kill(-p.pid, "SIGKILL");
    } catch {
      p.kill("SIGKILL");
    }
  }

  /** Waits until the process is gone (after kill()). */
  async waitExit(): Promise<void> {
    const p = this.proc;
    if (!p || this.exited || p.exitCode !== null || p.signalCode !== null) return;
    await new Promise((r) => p.once("exit", r));
  }

  get pid(): number | undefined {
    return this.proc?.pid;
  }

  /** Resident memory of the worker's process group (it and what it started), from /proc. */
  memUsageBytes(): number {
    const pid = this.proc?.pid;
    if (!pid || this.exited) return 0;
    return (this.spec.memoryByGroup ?? readMemoryByGroup)().get(pid) ?? 0;
  }

  /** Ends the current invocation with outcome and kills the process (its memory was over). */
  abortCurrent(o: Outcome): void {
    const cur = this.current;
    this.current = undefined;
    cur?.settle(o);
    this.kill();
  }

  get busy(): boolean {
    return this.current !== undefined;
  }

  /** Hands the event to the worker; resolves with what happened. */
  invoke(id: string, event: Buffer, timeoutMs: number, triggerSource?: string): Promise<Outcome> {
    return new Promise<Outcome>((resolve) => {
      let settled = false;
      const timer = setTimeout(() => settle({ kind: "timeout" }), timeoutMs);
      const settle = (o: Outcome) => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        if (this.current?.id === id) this.current = undefined;
        resolve(o);
      };
      this.current = { id, event, delivered: false, settle, ...(triggerSource ? { triggerSource } : {}) };
      this.oomKillsAtStart = this.spec.oomKills?.();
      this.peakRssBytes = 0;
      this.deliver();
    });
  }

  private deliver(): void {
    const cur = this.current;
    const res = this.poll;
    if (!cur || cur.delivered || !res) return;
    cur.delivered = true;
    this.poll = undefined;
    res.writeHead(200, {
      "Content-Type": "application/json",
      request_id: cur.id,
      memory_limit_in_mb: String(this.spec.memoryMB),
      time_limit_in_ms: String(this.spec.timeLimitMs),
      // The bootstraps set TRIGGER_SRC from it for this invocation only.
      ...(cur.triggerSource ? { [RUNTIME_TRIGGER_SOURCE_HEADER]: cur.triggerSource } : {}),
    });
    res.end(cur.event);
  }

  private handle(req: IncomingMessage, res: ServerResponse): void {
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => {
      const body = Buffer.concat(chunks);
      const path = (req.url ?? "").split("?")[0];
      if (req.method === "GET" && path === POOL_WORKER_SPECIALISE_PATH) {
        this.specialisePoll = res;
        res.on("close", () => {
          if (this.specialisePoll === res) this.specialisePoll = undefined;
        });
        this.pooledWaitingResolve?.();
        this.answerSpecialisePoll();
        return;
      }
      if (req.method === "POST" && path === "/runtime/init/ready") {
        this.initResolve?.();
        res.end();
        return;
      }
      if (req.method === "GET" && path === "/runtime/invocation/next") {
        // A worker asking for the next event is also done initialising.
        this.initResolve?.();
        this.poll = res;
        res.on("close", () => {
          if (this.poll === res) this.poll = undefined;
        });
        this.deliver();
        return;
      }
      if (
        req.method === "POST" &&
        (path === "/runtime/invocation/response" || path === "/runtime/invocation/error")
      ) {
        const cur = this.current;
        if (cur?.delivered) {
          cur.settle(
            answerOutcome({
              kind: path.endsWith("response") ? "response" : "error",
              body,
              oomKillsAtStart: this.oomKillsAtStart,
              oomKillsNow: this.spec.oomKills?.(),
              lastRssBytes: this.lastRssBytes,
            }),
          );
        }
        res.end();
        return;
      }
      res.writeHead(404).end();
    });
  }

  async close(): Promise<void> {
    this.kill();
    await this.waitExit();
    await new Promise((r) => this.server?.close(r) ?? r(undefined));
  }
}
