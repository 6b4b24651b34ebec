/**
 * The runtime shim, PID 1 of every function pod: pulls the code, starts `perInstance`
 * language workers (each with its own SCF runtime API port), serves POST /invoke to the
 * activator, enforces the timeout, maps failures to SCF's codes and prints SCF's log lines.
 */

import { mkdir, writeFile } from "node:fs/promises";
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import { dirname, join } from "node:path";
import { finished } from "node:stream/promises";
import { AnnounceEnv } from "../protocol/announce.ts";
import { UpdraftHeaders } from "../protocol/headers.ts";
import { INVOKE_BODY_LIMIT_BYTES, keepIdleConnections } from "../protocol/http.ts";
import type { ChannelCall } from "../protocol/instance-channel.ts";
import { INSTANCE_KEY_HEADER, keyMatches } from "../protocol/instance-key.ts";
import { SPECIALISE_PATH, type SpecialiseRequest } from "../protocol/pool.ts";
import { InstanceHeaders, TRIGGER_SOURCE_PATTERN, WEB_FUNCTION_PORT } from "../protocol/triggers.ts";
import { ChannelServer } from "./channel.ts";
import { settle } from "./drain.ts";
import { recordExitReason } from "./exit-reason.ts";
import { ImageWorker } from "./image.ts";
import { errorBody, type InvokeResult, refusal } from "./invoke-result.ts";
import { MEMORY_SAMPLE_MS, MemorySnapshots, memoryFullNow, oomKillCount, overLimit } from "./memory.ts";
import { handOverRefusal, prestartSupported } from "./prestart.ts";
import { type CodeSource, prepareCode } from "./pull-code.ts";
import { scfHeaders } from "./scf-headers.ts";
import { billedMs, endLine, errorLine, initReportLine, reportLine, startLine } from "./scf-log.ts";
import { type InvocationWorker, type Outcome, Worker, type WorkerSpec } from "./worker.ts";

export interface ShimConfig extends CodeSource {
  /** An image function: the user's image serves SCF's image contract beside the shim. */
  imageFunction?: boolean;
  runtime: string;
  handler: string;
  functionType: "Event" | "Web";
  codeDir: string;
  appDir: string;
  memoryMB: number;
  timeoutMs: number;
  initTimeoutMs: number;
  perInstance: number;
  port: number;
  /** The instance channel's port (protocol/instance-channel.ts); absent: no channel. */
  channelPort?: number;
  apiBasePort: number;
  provisioned: boolean;
  /**
   * The key every call but a probe must carry (protocol/instance-key.ts); absent: calls are
   * not checked (a shim run outside a pod, in tests). Never in env: the code does not get it.
   */
  instanceKey?: string;
  env: Record<string, string>;
}

/**
 * Language workers per instance: one per concurrent request, but no more than one per
 * 96 MB of the function's memory (a Node.js worker costs 45–70 MB under load; at one per
 * 64 MB, 4 workers at 256 MB were OOM-killed mid-run). perInstance 20 at 256 MB → 2
 * workers, and the other requests wait in the shim for one of them.
 */
/** How many async outcomes an instance remembers, to answer a repeated delivery. */
/**
 * How long an instance remembers the outcome of an async run, to answer a repeated
 * delivery: a repeat comes ack_wait (30 s) after its dispatcher died, later if nats-server
 * was down too. Bounded by bytes as well (answers can be 6 MB): the oldest go first.
 * (Bounded by count, 2,000, it forgot runs within 30 s at 80 events/s: 6 of 5,000 ran twice.)
 */
const ASYNC_OUTCOME_TTL_MS = 10 * 60_000;

const ASYNC_OUTCOMES_MAX_BYTES = 64 * 1024 * 1024;

export function workerCount(perInstance: number, memoryMB: number): number {
  return Math.max(1, Math.min(perInstance, Math.floor(memoryMB / 96)));
}

/**
 * The command that runs a runtime's bootstrap; workerMemoryMB is one worker's share of the
 * function's memory (a JVM's heap is sized from it).
 */
export function workerArgv(runtime: string, appDir: string, codeDir: string, workerMemoryMB = 128): string[] {
  // nodejs22 → /var/lang/node22/bin/node: SCF's path, in every Node.js runtime image.
  const node = /^nodejs(\d+)$/.exec(runtime);
  if (node) return [`/var/lang/node${node[1]}/bin/node`, join(appDir, "runtimes/nodejs/bootstrap.cjs")];
  if (runtime.startsWith("python")) return ["python3", "-u", join(appDir, "runtimes/python/bootstrap.py")];
  if (runtime.startsWith("php")) return ["php", join(appDir, "runtimes/php/bootstrap.php")];
  // go1: a Go program (runtimes/go) that runs the user's binary and calls it over net/rpc.
  if (runtime === "go1") return [join(appDir, "runtimes/go/bootstrap")];
  // java17 → /var/lang/java17/bin/java. Half the worker's memory is heap: the rest is the
  // JVM's own (metaspace, code cache, threads), e.g. 128 MB → -Xmx64m. Serial GC and the
  // C1 compiler only start fastest and use least memory for short handlers.
  const java = /^java(\d+)$/.exec(runtime);
  if (java)
    return [
      `/var/lang/java${java[1]}/bin/java`,
      `-Xmx${Math.max(32, Math.floor(workerMemoryMB / 2))}m`,
      "-XX:+UseSerialGC",
      "-XX:TieredStopAtLevel=1",
      "-XX:ReservedCodeCacheSize=32m",
      "-Xshare:auto",
      "-cp",
      join(appDir, "runtimes/java/bootstrap.jar"),
      "dev.updraft.runtime.Bootstrap",
    ];
  return [join(codeDir, "bootstrap")];
}

/** The largest result a function may return (SCF: 6 MB; e.g. 6,291,457 bytes is 407). */
export const RESULT_LIMIT_BYTES = 6 * 1024 * 1024;

/**
 * A shim's /readyz answer (the Event shim's and the Web shim's): 200 or 503, with the pod's
 * UID when it has one — the activator serves an announced address only once it answers as
 * that pod.
 */
export function answerReadyz(res: ServerResponse, ready: boolean, env: Record<string, string>): void {
  const uid = env[AnnounceEnv.uid];
  res.writeHead(ready ? 200 : 503, uid ? { [UpdraftHeaders.podUid]: uid } : {});
  res.end(ready ? "ok" : "not ready");
}

/**
 * Refuses a call without the instance's key (401, coded) and says so; true when it may go
 * on. Probes (/healthz, /readyz) are asked before this and carry none.
 */
export function refusedWithoutKey(
  req: IncomingMessage,
  res: ServerResponse,
  expected: string | undefined,
): boolean {
  if (expected === undefined || keyMatches(req.headers[INSTANCE_KEY_HEADER], expected)) return false;
  req.resume();
  res.writeHead(401, { "Content-Type": "application/json", Connection: "close" });
  res.end(errorBody(401, "calls to an instance come from the activators only", "InstanceKeyRequired"));
  return true;
}

/**
 * SCF's 434 message. The shim's sampler saw the function over memoryMB (usedBytes above
 * it), or the kernel stopped it at the instance's limit first — it grew faster than the
 * sampling — and usedBytes is the last sample, below memoryMB or none; or its time ran
 * out while its instance's memory was full (stalled). Example: 170 MB of
 * 128 → "used 170 MB, over its 128 MB"; 121 MB of 128 → "went over its 128 MB faster than
 * it was measured (last measured at 121 MB)".
 */
export function memoryExceededMessage(usedBytes: number, memoryMB: number, stalled = false): string {
  const usedMB = Math.round(usedBytes / 1024 / 1024);
  if (stalled)
    return `Memory Limit Exceeded: the function's time ran out with its instance's memory full (last measured at ${usedMB} MB of its ${memoryMB} MB)`;
  if (usedBytes > memoryMB * 1024 * 1024)
    return `Memory Limit Exceeded: the function used ${usedMB} MB, over its ${memoryMB} MB`;
  const seen = usedMB > 0 ? ` (last measured at ${usedMB} MB)` : "";
  return `Memory Limit Exceeded: the function went over its ${memoryMB} MB faster than it was measured${seen} and the kernel stopped it`;
}

/**
 * What an invocation outcome means for the caller. Our bootstraps post an SCF error body
 * (errorCode 430, 437, or 434 from a JVM out of heap); a custom bootstrap's error body is
 * anything, reported as 430.
 */
export function mapOutcome(
  o: Outcome,
  timeoutMs: number,
  memoryMB = 0,
): { code?: number; body: Buffer; recycle: boolean } {
  switch (o.kind) {
    case "response": {
      // SCF's 407: a result over 6 MB is not returned (the limit of a sync response).
      if (o.body.length > RESULT_LIMIT_BYTES)
        return {
          code: 407,
          body: errorBody(
            407,
            `the function's result is ${o.body.length} bytes, over the 6 MB limit`,
            "ResultTooLarge",
          ),
          recycle: false,
        };
      const text = o.body.toString();
      try {
        JSON.parse(text);
        return { body: o.body, recycle: false };
      } catch {
        return { body: Buffer.from(JSON.stringify(text)), recycle: false }; // plain text → JSON string
      }
    }
    case "error": {
      try {
        const e = JSON.parse(o.body.toString()) as { errorCode?: number; errorMessage?: string };
        if (e && typeof e === "object" && (e.errorCode === 430 || e.errorCode === 437)) {
          return { code: e.errorCode, body: o.body, recycle: false };
        }
        // A bootstrap that saw its heap run out (the JVM's OutOfMemoryError) says 434.
        if (e && typeof e === "object" && e.errorCode === 434)
          return { code: 434, body: o.body, recycle: true };
      } catch {
        // not ours: wrap below
      }
      return { code: 430, body: errorBody(430, o.body.toString(), "UserCodeException"), recycle: false };
    }
    case "timeout":
      return {
        code: 433,
        body: errorBody(
          433,
          `Invoking task timed out after ${Math.round(timeoutMs / 1000)} seconds`,
          "TimeLimitReached",
        ),
        recycle: true,
      };
    case "memory":
      return {
        code: 434,
        body: errorBody(434, memoryExceededMessage(o.usedBytes, memoryMB, o.stalled), "MemoryLimitReached"),
        recycle: true,
      };
    case "exited":
      return {
        code: 439,
        body: errorBody(
          439,
          `User process exited when running function (code ${o.code ?? "none"}, signal ${o.signal ?? "none"})`,
          "UserProcessExited",
        ),
        recycle: true,
      };
  }
}

/**
 * The most of a worker's output a slot holds for the invocation's log. Its log result is
 * the last 4 KB; the rest is in the pod's log. Without a bound, a function printing while
 * it runs or idles (a timer left behind) would grow the shim's memory: e.g. 100 MB printed
 * in one invocation holds 64 KB here, the last chunks whole.
 */
export const KEPT_OUTPUT_BYTES = 64 * 1024;

/** Adds a chunk of output to the slot's, dropping the oldest chunks past KEPT_OUTPUT_BYTES. */
export function keepOutput(slot: { log: Buffer[]; logBytes: number }, chunk: Buffer): void {
  slot.log.push(chunk);
  slot.logBytes += chunk.length;
  while (slot.logBytes > KEPT_OUTPUT_BYTES && slot.log.length > 1) slot.logBytes -= slot.log.shift()!.length;
}

/**
 * The function's output as the pod's log shows it: whole lines, each of an invocation's
 * tagged with its request id as SCF's own lines are (`RequestId:<id> <line>`), so the lines
 * of one invocation can be found among those of others running beside it (perInstance > 1)
 * — `updraft logs --request-id` does. Output outside any invocation (a module's top level
 * while it loads) stays as it is. The invocation's own log (SCF's log result) is untouched.
 * Example: "hel" then "lo\nwor" → "RequestId:abc hello\n", and "wor" waits for its newline.
 */
export function tagLines(
  slot: { requestId?: string | undefined; partialLine: string },
  text: string,
): string {
  const parts = (slot.partialLine + text).split("\n");
  slot.partialLine = parts.pop() ?? "";
  const tag = slot.requestId ? `RequestId:${slot.requestId} ` : "";
  return parts.map((l) => `${tag}${l}\n`).join("");
}

interface Slot {
  worker: InvocationWorker;
  state: "init" | "ready" | "failed";
  failure?: { code: number; message: string; type: string };
  cold: boolean;
  initMs: number;
  initializing: Promise<void>;
  /** Taken by an /invoke between choosing the slot and the worker getting the event. */
  reserved?: boolean;
  /** What the worker printed since the last invocation began (the newest KEPT_OUTPUT_BYTES). */
  log: Buffer[];
  logBytes: number;
  /** The invocation running on it: what its output lines in the pod's log are tagged with. */
  requestId?: string | undefined;
  /** Output after its last newline, held until the line is whole. */
  partialLine: string;
}

/** A warm-pool instance: how it reads a function's configuration when it is specialised. */
export interface PoolOptions {
  configFrom: (env: Record<string, string>) => ShimConfig;
}

/** Inline code is a Function's field, bounded by the apiserver's object size (1.5 MB): 8 MB is ample. */
const SPECIALISE_BODY_LIMIT_BYTES = 8 * 1024 * 1024;

/** A relative file name inside the code folder: no absolute path, no "..". */
const CODE_FILE_NAME = /^(?!.*(^|\/)\.\.(\/|$))[A-Za-z0-9._-][A-Za-z0-9._/-]*$/;

/** The body of POST /specialise, checked: env and files are maps of strings, file names stay inside. */
export function parseSpecialiseRequest(text: string): SpecialiseRequest {
  const v = JSON.parse(text) as unknown;
  if (typeof v !== "object" || v === null) throw new Error("the body is not a JSON object");
  const { env, files } = v as { env?: unknown; files?: unknown };
  const strings = (m: unknown, what: string): Record<string, string> => {
    if (typeof m !== "object" || m === null || Array.isArray(m)) throw new Error(`${what} is not an object`);
    for (const [k, x] of Object.entries(m))
      if (typeof x !== "string") throw new Error(`${what}.${k} is not a string`);
    return m as Record<string, string>;
  };
  const out: SpecialiseRequest = { env: strings(env, "env") };
  if (files !== undefined) {
    out.files = strings(files, "files");
    for (const name of Object.keys(out.files))
      if (!CODE_FILE_NAME.test(name))
        throw new Error(`file name "${name}" is not a relative path inside the code folder`);
  }
  return out;
}

/** Writes inline code into the code folder (sub-folders made), as the ConfigMap mount would show it. */
async function writeCodeFiles(dir: string, files: Record<string, string>): Promise<void> {
  for (const [name, content] of Object.entries(files)) {
    const path = join(dir, name);
    await mkdir(dirname(path), { recursive: true });
    // Read-only and executable for the function's user, as the mount's mode 0555.
    await writeFile(path, content, { mode: 0o555 });
  }
}

export class Shim {
  private cfg: ShimConfig;
  /**
   * The pod's log: SCF's lines one per call, and the function's tagged output as it comes —
   * whole lines, possibly several in one call (joined by newlines, the last without its own).
   */
  private readonly out: (line: string) => void;
  /**
   * A warm-pool instance's progress: waiting for a function, being made one (code, workers,
   * init), or one now — from then on it is exactly a plain instance of that function.
   */
  private pool: PoolOptions | undefined;
  private poolState: "waiting" | "specialising" | "specialised" | undefined;
  private slots: Slot[] = [];
  private server: Server | undefined;
  private channel: ChannelServer | undefined;
  private draining = false;
  inFlight = 0;
  /** When the last request arrived: a drain waits for a quiet moment (runtime/drain.ts). */
  lastRequestAt = 0;
  private pullCodeMs = 0;
  private initRuntimeMs = 0;
  private readonly startedAt = performance.now();

  constructor(cfg: ShimConfig, out: (line: string) => void, pool?: PoolOptions) {
    this.cfg = cfg;
    this.out = out;
    this.pool = pool;
    this.poolState = pool ? "waiting" : undefined;
  }

  /** The function's output as tagLines gives it (whole lines, each ending in a newline). */
  private outTagged(text: string): void {
    if (text) this.out(text.slice(0, -1));
  }

  get ready(): boolean {
    // A pool instance is ready to be claimed; while it is being specialised, it is not.
    if (this.poolState === "waiting") return !this.draining && !this.prestarting;
    if (this.poolState === "specialising") return false;
    return !this.draining && this.slots.length > 0 && this.slots.every((s) => s.state !== "init");
  }

  async start(): Promise<void> {
    if (this.pool) {
      // A pool instance: nothing of a function yet; it waits for POST /specialise, with
      // its language worker started where the runtime allows.
      await this.listen();
      await this.prestart();
      return;
    }
    const t0 = performance.now();
    await prepareCode(this.cfg, this.cfg.codeDir);
    this.pullCodeMs = performance.now() - t0;
    await this.listen();
    await this.startSlots();
  }

  private async listen(): Promise<void> {
    this.server = createServer((req, res) => void this.handle(req, res));
    keepIdleConnections(this.server);
    await new Promise<void>((resolve) => this.server!.listen(this.cfg.port, "0.0.0.0", () => resolve()));
    if (this.cfg.channelPort !== undefined) {
      this.channel = new ChannelServer({
        instanceKey: () => this.cfg.instanceKey,
        answer: (call, event, deliver) => this.answer(call, event, deliver),
        log: (line) => this.out(line),
      });
      await this.channel.listen(this.cfg.channelPort);
    }
  }

  /** The port the instance channel listens on (0: none). */
  get channelPort(): number {
    return this.channel?.port ?? 0;
  }

  /** InitRuntime and InitFunction: the workers started and their handlers loaded. */
  private async startSlots(): Promise<void> {
    const t1 = performance.now();
    // An image's server takes perInstance requests at once (it is one process we do not run).
    const count = this.cfg.imageFunction
      ? this.cfg.perInstance
      : workerCount(this.cfg.perInstance, this.cfg.memoryMB);
    const handedOver = await this.takePrestarted(count);
    for (let i = 0; i < count; i++) {
      if (i === 0 && handedOver) {
        this.slots.push(handedOver);
        continue;
      }
      const slot = this.newSlot(i);
      await slot.worker.listen();
      this.slots.push(slot);
    }
    this.initRuntimeMs = performance.now() - t1;
    this.memoryWatch = setInterval(() => this.checkMemory(), MEMORY_SAMPLE_MS);
    this.memoryWatch.unref();
    await Promise.all(this.slots.map((s) => this.initSlot(s, s === handedOver)));
  }

  /** Slot i's worker as this configuration starts it. */
  private workerSpec(i: number, slot: Slot): WorkerSpec {
    return {
      argv: workerArgv(
        this.cfg.runtime,
        this.cfg.appDir,
        this.cfg.codeDir,
        Math.floor(this.cfg.memoryMB / workerCount(this.cfg.perInstance, this.cfg.memoryMB)),
      ),
      cwd: this.cfg.codeDir,
      env: {
        ...this.cfg.env,
        SCF_RUNTIME_API: "127.0.0.1",
        SCF_RUNTIME_API_PORT: String(this.cfg.apiBasePort + i),
      },
      port: this.cfg.apiBasePort + i,
      memoryMB: this.cfg.memoryMB,
      timeLimitMs: this.cfg.timeoutMs,
      onOutput: (b) => {
        keepOutput(slot, b);
        this.outTagged(tagLines(slot, b.toString()));
      },
      oomKills: () => oomKillCount(),
      memoryByGroup: () => this.memory.get(MEMORY_SAMPLE_MS),
    };
  }

  private newSlot(i: number, pooled = false): Slot {
    const slot: Slot = {
      worker: undefined as unknown as InvocationWorker,
      state: "init",
      cold: true,
      initMs: 0,
      log: [],
      logBytes: 0,
      partialLine: "",
      initializing: Promise.resolve(),
    };
    slot.worker = this.cfg.imageFunction
      ? new ImageWorker({
          host: "127.0.0.1",
          port: WEB_FUNCTION_PORT,
          headers: (id) => scfHeaders(this.cfg, id),
        })
      : new Worker({ ...this.workerSpec(i, slot), pooled });
    return slot;
  }

  /**
   * A pool instance's worker started ahead of any function (runtime/prestart.ts), up and
   * waiting for one; undefined when the runtime has none or it did not come up.
   */
  private prestarted: Slot | undefined;
  private prestarting = false;

  private async prestart(): Promise<void> {
    if (!prestartSupported(this.cfg.runtime) || this.cfg.imageFunction) return;
    if (workerCount(this.cfg.perInstance, this.cfg.memoryMB) !== 1) return;
    this.prestarting = true;
    const slot = this.newSlot(0, true);
    const worker = slot.worker as Worker;
    let timer: NodeJS.Timeout | undefined;
    try {
      await worker.listen();
      worker.start();
      await Promise.race([
        worker.pooledWaiting,
        new Promise((_, reject) => {
          timer = setTimeout(
            () => reject(new Error("it did not ask for its function in time")),
            this.cfg.initTimeoutMs,
          );
        }),
      ]);
      this.prestarted = slot;
    } catch (err) {
      // Not fatal: the instance starts its worker when it is specialised, as a plain one does.
      this.out(`the pre-started worker did not come up: ${err instanceof Error ? err.message : String(err)}`);
      await worker.close();
    } finally {
      clearTimeout(timer);
      this.prestarting = false;
    }
  }

  /**
   * The pre-started worker, handed over to the function when it would be the worker a
   * plain instance starts for slot 0 — same command, folder, port, one worker, nothing
   * read-at-start changed — else stopped (its port freed for the fresh one).
   */
  private async takePrestarted(count: number): Promise<Slot | undefined> {
    const slot = this.prestarted;
    this.prestarted = undefined;
    if (!slot) return undefined;
    const worker = slot.worker as Worker;
    const next = this.workerSpec(0, slot);
    const refusal = this.prestartedRefusal(worker, next, count);
    if (refusal) {
      this.out(`the pre-started worker is not used: ${refusal}`);
      await worker.close();
      return undefined;
    }
    worker.handOver(next);
    return slot;
  }

  /** Why the pre-started worker cannot be slot 0's worker `next`, or undefined. */
  private prestartedRefusal(worker: Worker, next: WorkerSpec, count: number): string | undefined {
    if (this.cfg.imageFunction) return "an image function";
    if (count !== 1) return `the function has ${count} workers`;
    if (worker.exited) return "it exited";
    const started = worker.spec;
    if (
      JSON.stringify([next.argv, next.cwd, next.port]) !==
      JSON.stringify([started.argv, started.cwd, started.port])
    )
      return "its command, folder or port differs";
    return handOverRefusal(this.cfg.runtime, started.env, next.env);
  }

  private memoryWatch: NodeJS.Timeout | undefined;
  /** The workers' memory, read by the sampler and shared with each invocation's report. */
  private readonly memory = new MemorySnapshots();

  /** SCF's 434: the workers' memory over memoryMB stops the largest running one. */
  private checkMemory(): void {
    if (!this.slots.some((s) => s.worker.busy)) return;
    const groups = this.memory.get(0);
    const usage = new Map<InvocationWorker, number>();
    for (const { worker } of this.slots) {
      const bytes = worker.pid && !worker.exited ? (groups.get(worker.pid) ?? 0) : 0;
      worker.lastRssBytes = bytes;
      if (worker.busy) worker.peakRssBytes = Math.max(worker.peakRssBytes, bytes);
      usage.set(worker, bytes);
    }
    const victim = overLimit(usage, this.cfg.memoryMB * 1024 * 1024);
    if (victim?.busy) victim.abortCurrent({ kind: "memory", usedBytes: usage.get(victim)! });
  }

  /** Starts a worker and waits for init/ready, up to the init timeout (450 past it). */
  /** started: a pre-started worker just handed its function, already running. */
  private initSlot(slot: Slot, started = false): Promise<void> {
    slot.initializing = this.doInitSlot(slot, started);
    return slot.initializing;
  }

  private async doInitSlot(slot: Slot, started: boolean): Promise<void> {
    slot.state = "init";
    const t0 = performance.now();
    if (!started) slot.worker.start();
    let timer: NodeJS.Timeout | undefined;
    const timedOut = new Promise<"timeout">((r) => {
      timer = setTimeout(() => r("timeout"), this.cfg.initTimeoutMs);
    });
    const result = await Promise.race([
      slot.worker.initDone.then(
        () => "ok" as const,
        () => "exited" as const,
      ),
      timedOut,
    ]);
    clearTimeout(timer);
    slot.initMs = performance.now() - t0;
    if (result === "ok") {
      slot.state = "ready";
      return;
    }
    slot.worker.kill();
    slot.state = "failed";
    slot.failure =
      result === "timeout"
        ? this.cfg.imageFunction
          ? {
              code: 446,
              message: `the image's server did not listen on port ${WEB_FUNCTION_PORT} within the init timeout`,
              type: "PortBindingFailed",
            }
          : { code: 450, message: "Init container timeout", type: "InitContainerTimeout" }
        : { code: 439, message: "User process exited during init", type: "UserProcessExited" };
    this.out(`init failed: ${slot.failure.message}`);
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const path = (req.url ?? "").split("?")[0];
    if (path === "/healthz") {
      res.end("ok");
      return;
    }
    if (path === "/readyz") {
      answerReadyz(res, this.ready, this.cfg.env);
      return;
    }
    if (refusedWithoutKey(req, res, this.cfg.instanceKey)) return;
    if (path === SPECIALISE_PATH && req.method === "POST" && this.pool) {
      await this.specialise(req, res, this.pool);
      return;
    }
    if (path !== "/invoke" || req.method !== "POST") {
      res.writeHead(404).end();
      return;
    }
    let event = Buffer.alloc(0);
    if (this.poolState === "waiting" || this.poolState === "specialising") req.resume();
    else {
      const chunks: Buffer[] = [];
      let size = 0;
      for await (const c of req) {
        size += (c as Buffer).length;
        // Over SCF's 6 MB event: refused, the rest not read (a call that bypassed the
        // activator's limit cannot take the instance's memory).
        if (size > INVOKE_BODY_LIMIT_BYTES) {
          res.writeHead(413, { "Content-Type": "application/json", Connection: "close" });
          res.end(errorBody(406, `the event is over ${INVOKE_BODY_LIMIT_BYTES} bytes`, "RequestTooLarge"));
          req.destroy();
          return;
        }
        chunks.push(c as Buffer);
      }
      event = Buffer.concat(chunks);
    }
    const h = req.headers;
    const src = h[InstanceHeaders.triggerSource];
    const call: ChannelCall = {
      requestId: String(h[UpdraftHeaders.requestId] ?? crypto.randomUUID()),
      cold: h[UpdraftHeaders.coldStart] === "true",
      logType: h[UpdraftHeaders.logType] === undefined ? undefined : String(h[UpdraftHeaders.logType]),
      triggerSource: typeof src === "string" ? src : undefined,
      async: h[UpdraftHeaders.async] === "true",
      attempt: Number(h[UpdraftHeaders.attempt] ?? 1),
    };
    await this.answer(call, event, async (r) => {
      res.writeHead(r.status, {
        "Content-Type": "application/json",
        ...r.headers,
        // Refused, not run: the activator sends it elsewhere and drops this connection.
        ...(r.status === 503 ? { Connection: "close" } : {}),
      });
      // In flight until the answer is written out: a drain that exits before that would
      // close the socket on a request that ran (seen: the activator retried it elsewhere,
      // and the async event ran twice). Not end()'s callback: when the caller is gone (an
      // activator killed mid-call) it is never called, and each such call held a place of
      // perInstance for good — seen: an instance answering "at capacity" to everything.
      res.end(r.body);
      await finished(res).catch(() => undefined);
    });
  }

  /**
   * One invocation, however it came (POST /invoke or the instance channel): runs it, or
   * refuses it unrun (503: not a function's instance yet, or draining; 429: at capacity),
   * or answers a repeated async delivery with the run it already had. `deliver` writes the
   * answer and resolves once it is out: the call counts as in flight until then.
   */
  private async answer(
    call: ChannelCall,
    event: Buffer,
    deliver: (r: InvokeResult) => Promise<void>,
  ): Promise<void> {
    if (this.poolState === "waiting" || this.poolState === "specialising")
      // Not a function's instance (yet): the activator sends it elsewhere.
      return deliver(refusal(503, "a warm-pool instance not specialised yet", "InstanceNotSpecialised", 500));
    this.lastRequestAt = Date.now(); // probes do not count: they never stop during a drain
    const id = call.requestId;
    const tail = (call.logType ?? "").toLowerCase() === "tail";
    const src = call.triggerSource;
    const triggerSource = src !== undefined && TRIGGER_SOURCE_PATTERN.test(src) ? src : undefined;
    // An async event delivered again (its dispatcher died before recording the outcome)
    // gets the outcome of the run it already had here, or waits for it: it never runs twice.
    // Keyed by attempt: a planned retry of a failed event is a new run.
    const attemptKey = `${id}#${call.attempt ?? 1}`;
    const known = call.async ? this.asyncOutcomes.get(attemptKey) : undefined;
    if (known) {
      const r = await known;
      return deliver({ ...r, headers: { ...r.headers, [UpdraftHeaders.repeat]: "true" } });
    }
    // The activator retries it elsewhere.
    if (this.draining) return deliver(refusal(503, "instance draining", "InstanceDraining", 500));
    // Each activator keeps this instance within perInstance, but two activators can both
    // think it has room: the second one is told at once, and tries another instance.
    if (this.inFlight >= this.cfg.perInstance)
      return deliver(refusal(429, "instance at capacity", "InstanceAtCapacity", 429));
    this.inFlight++;
    // The activator sends at most perInstance; with fewer workers than that, requests wait
    // here for a worker, in arrival order. A worker being re-initialised is waited for too.
    const run = (async () => {
      const slot = await this.takeSlot();
      try {
        await slot.initializing;
        return await this.invoke(slot, id, event, tail, call.cold === true, triggerSource);
      } finally {
        this.giveSlot(slot);
      }
    })();
    if (call.async) this.remember(attemptKey, run);
    try {
      await deliver(await run);
    } finally {
      this.inFlight--;
    }
  }

  /** Outcomes of recent async events by request id, oldest first (bounded by count). */
  private readonly asyncOutcomes = new Map<string, Promise<InvokeResult>>();
  /** When each outcome was stored and its size, oldest first (Map keeps insertion order). */
  private readonly asyncOutcomeMeta = new Map<string, { at: number; bytes: number }>();
  private asyncOutcomeBytes = 0;

  private remember(id: string, outcome: Promise<InvokeResult>): void {
    this.asyncOutcomes.set(id, outcome);
    void outcome.then(
      (r) => {
        const bytes = r.body.length + 256;
        this.asyncOutcomeMeta.set(id, { at: Date.now(), bytes });
        this.asyncOutcomeBytes += bytes;
        this.forgetOld();
      },
      () => this.asyncOutcomes.delete(id),
    );
  }

  private forgetOld(): void {
    const now = Date.now();
    for (const [id, meta] of this.asyncOutcomeMeta) {
      if (now - meta.at < ASYNC_OUTCOME_TTL_MS && this.asyncOutcomeBytes <= ASYNC_OUTCOMES_MAX_BYTES) break;
      this.asyncOutcomeMeta.delete(id);
      this.asyncOutcomes.delete(id);
      this.asyncOutcomeBytes -= meta.bytes;
    }
  }

  private readonly slotWaiters: Array<(s: Slot) => void> = [];

  private takeSlot(): Promise<Slot> {
    const free = this.slots.find((s) => !s.reserved);
    if (free) {
      free.reserved = true;
      return Promise.resolve(free);
    }
    return new Promise((resolve) => this.slotWaiters.push(resolve));
  }

  private giveSlot(slot: Slot): void {
    const next = this.slotWaiters.shift();
    if (next) next(slot);
    else slot.reserved = false;
  }

  async invoke(
    slot: Slot,
    id: string,
    event: Buffer,
    tail: boolean,
    waitedForColdStart = true,
    triggerSource?: string,
  ): Promise<InvokeResult> {
    const lines: string[] = [];
    const print = (l: string) => {
      lines.push(l);
      this.out(l);
    };
    const headers: Record<string, string> = { [UpdraftHeaders.requestId]: id };
    print(startLine(id));
    // What the worker printed since its last invocation — on a cold slot, what the function
    // printed while it loaded (module-level code, or the traceback that stopped it) — is
    // this invocation's log, as SCF has it. It is in the pod's log already, as it came.
    const sinceLast = slot.log.length > 0 ? Buffer.concat(slot.log).toString() : "";
    slot.log = [];
    slot.logBytes = 0;
    if (sinceLast) lines.push(...sinceLast.replace(/\n$/, "").split("\n"));
    if (slot.state === "failed") {
      // Init timed out (450) or the worker died in init (439): say so, and try again for the next call.
      const f = slot.failure ?? {
        code: 450,
        message: "Init container timeout",
        type: "InitContainerTimeout",
      };
      const body = errorBody(f.code, f.message, f.type);
      print(errorLine(id, f.message));
      print(endLine(id));
      headers[UpdraftHeaders.functionError] = String(f.code);
      void this.initSlot(slot);
      return { status: 200, body, headers: this.finishHeaders(headers, lines, tail, 0) };
    }
    if (slot.cold) {
      slot.cold = false;
      const t = {
        pullCodeMs: this.pullCodeMs,
        initRuntimeMs: this.initRuntimeMs,
        initFunctionMs: slot.initMs,
      };
      // A provisioned function's instance that was warm before its first request came (the
      // request did not wait for it) logs "Provisioned Report", as SCF does.
      const provisioned = this.cfg.provisioned && !waitedForColdStart;
      print(initReportLine(id, t, this.cfg.memoryMB, slot.worker.memUsageBytes(), provisioned));
      headers[UpdraftHeaders.initDurationMs] = String(
        Math.round(t.pullCodeMs + t.initRuntimeMs + t.initFunctionMs),
      );
    }
    slot.requestId = id;
    const t0 = performance.now();
    let outcome = await slot.worker.invoke(id, event, this.cfg.timeoutMs, triggerSource);
    // Out of time with the container's memory full: the kernel was reclaiming the pages the
    // processes run from rather than stopping the function, which is SCF's 434, not 433.
    // (An image function's memory is its own container's, which the shim cannot read.)
    if (outcome.kind === "timeout" && !this.cfg.imageFunction && memoryFullNow())
      outcome = {
        kind: "memory",
        usedBytes: Math.max(slot.worker.peakRssBytes, slot.worker.lastRssBytes),
        stalled: true,
      };
    const duration = performance.now() - t0;
    // What the function printed reached its pipe before its answer left (a write to a pipe
    // returns once the bytes are in it), but both can be ready in one turn of the event loop
    // and this continuation — a microtask of the answer's callback — runs before the pipe's
    // callback in that same turn: wait for the turn's end (setImmediate runs after every
    // ready descriptor's callback), or the last lines would go to the next invocation.
    await new Promise<void>((resolve) => setImmediate(resolve));
    // A last line without its newline is still this invocation's.
    if (slot.partialLine) this.outTagged(tagLines(slot, "\n"));
    slot.requestId = undefined;
    const mapped = mapOutcome(outcome, this.cfg.timeoutMs, this.cfg.memoryMB);
    const userLog = Buffer.concat(slot.log).toString();
    slot.log = [];
    slot.logBytes = 0;
    if (userLog) lines.push(...userLog.replace(/\n$/, "").split("\n"));
    if (mapped.code !== undefined) {
      headers[UpdraftHeaders.functionError] = String(mapped.code);
      const msg = (JSON.parse(mapped.body.toString()) as { errorMessage?: string }).errorMessage ?? "";
      print(errorLine(id, msg));
    } else {
      print(`Response RequestId:${id} RetMsg:${mapped.body.toString().slice(0, 1024)}`);
    }
    // The most the invocation used (sampled while it ran), or what is left after it.
    const mem = Math.max(
      outcome.kind === "memory" ? outcome.usedBytes : 0,
      slot.worker.peakRssBytes,
      slot.worker.memUsageBytes(),
    );
    print(endLine(id));
    print(reportLine(id, duration, this.cfg.memoryMB, mem));
    if (mapped.recycle) {
      // 433, 434 and 439 recycle the instance's worker: kill it, start a fresh one.
      slot.worker.kill();
      await slot.worker.waitExit();
      // What the stopped worker still wrote (a traceback on its way out) is in the pod's log;
      // it is not the next invocation's.
      slot.log = [];
      slot.logBytes = 0;
      slot.cold = true;
      void this.initSlot(slot);
    }
    return { status: 200, body: mapped.body, headers: this.finishHeaders(headers, lines, tail, duration) };
  }

  private finishHeaders(h: Record<string, string>, lines: string[], tail: boolean, durationMs: number) {
    h[UpdraftHeaders.durationMs] = durationMs.toFixed(3);
    h[UpdraftHeaders.billedDurationMs] = String(billedMs(durationMs));
    if (tail) {
      const log = Buffer.from(`${lines.join("\n")}\n`);
      h[UpdraftHeaders.logResult] = log.subarray(Math.max(0, log.length - 4096)).toString("base64");
    }
    return h;
  }

  /**
   * Stops taking work, lets in-flight invocations finish (up to the timeout), stops
   * workers. New requests after SIGTERM get 503, which the activator retries elsewhere
   * (the instance never ran them), while the EndpointSlices catch up.
   */
  async drain(): Promise<void> {
    this.draining = true;
    clearInterval(this.memoryWatch);
    await settle(this, Date.now() + this.cfg.timeoutMs + 1000);
    await Promise.all(
      [...this.slots, ...(this.prestarted ? [this.prestarted] : [])].map((s) => s.worker.close()),
    );
    // Closing waits for open connections to end (idle keep-alive ones are closed now).
    const channelClosed = this.channel?.close(2000);
    await new Promise<void>((resolve) => {
      if (!this.server) return resolve();
      const t = setTimeout(resolve, 2000);
      this.server.close(() => {
        clearTimeout(t);
        resolve();
      });
    });
    await channelClosed;
  }

  /**
   * POST /specialise: a pool instance becomes the function whose environment (and inline
   * files) the body carries — once; a second claim is 409. The configuration is read from
   * the pool's environment overlaid with the function's, by the same reader a plain
   * instance uses at start, so the result is the instance a plain pod would have been. It
   * answers once the workers have run InitFunction (an init failure is then answered on
   * the invocations, as on a plain instance).
   * Example: a nodejs24 pool at 128 MB takes {env: {SCF_RUNTIME: "nodejs24",
   * SCF_MEMORY_SIZE: "128", _HANDLER: "index.main_handler", …}, files: {"index.js": …}}.
   */
  private async specialise(req: IncomingMessage, res: ServerResponse, pool: PoolOptions): Promise<void> {
    const refuse = (status: number, message: string, type: string) => {
      res.writeHead(status, { "Content-Type": "application/json" });
      res.end(errorBody(status, message, type));
    };
    const chunks: Buffer[] = [];
    let size = 0;
    for await (const c of req) {
      size += (c as Buffer).length;
      if (size > SPECIALISE_BODY_LIMIT_BYTES) {
        req.resume();
        return refuse(413, `the body is over ${SPECIALISE_BODY_LIMIT_BYTES} bytes`, "RequestTooLarge");
      }
      chunks.push(c as Buffer);
    }
    if (this.poolState !== "waiting" || this.draining)
      return refuse(409, "this instance is taken", "InstanceTaken");
    let body: SpecialiseRequest;
    let cfg: ShimConfig;
    try {
      body = parseSpecialiseRequest(Buffer.concat(chunks).toString());
      cfg = pool.configFrom({ ...this.cfg.env, ...body.env });
    } catch (err) {
      return refuse(400, err instanceof Error ? err.message : String(err), "InvalidParameter");
    }
    // A pool instance that takes calls only with its pool's key keeps a key once it is a
    // function's: the activator sends the function's own.
    if (this.cfg.instanceKey && !cfg.instanceKey)
      return refuse(400, "the function's instance key is missing", "InvalidParameter");
    if (
      cfg.runtime !== this.cfg.runtime ||
      cfg.memoryMB !== this.cfg.memoryMB ||
      cfg.functionType !== "Event" ||
      cfg.imageFunction ||
      cfg.codePackage
    )
      return refuse(
        400,
        `this instance is ${this.cfg.runtime} at ${this.cfg.memoryMB} MB for Event functions; the function is ${cfg.runtime} at ${cfg.memoryMB} MB (${cfg.functionType})`,
        "InstanceMismatch",
      );
    this.poolState = "specialising";
    this.cfg = cfg;
    try {
      const t0 = performance.now();
      await writeCodeFiles(cfg.codeDir, body.files ?? {});
      await prepareCode(cfg, cfg.codeDir);
      this.pullCodeMs = performance.now() - t0;
      await this.startSlots();
    } catch (err) {
      // PullCode failed (a bad URL or checksum): the instance answers as a plain one whose
      // code could not be pulled would — it exits, and its pod is replaced.
      this.out(recordExitReason(`specialising failed: ${err instanceof Error ? err.message : String(err)}`));
      refuse(500, `specialising failed: ${String(err)}`, "SpecialiseFailed");
      setImmediate(() => process.exit(1));
      return;
    }
    this.poolState = "specialised";
    res.writeHead(200, { "Content-Type": "application/json" });
    res.end(JSON.stringify({ initMs: Math.round(this.pullCodeMs + this.initRuntimeMs) }));
  }

  get uptimeMs(): number {
    return performance.now() - this.startedAt;
  }
}
