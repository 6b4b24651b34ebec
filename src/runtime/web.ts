/**
 * The shim of a Web function (SCF's "Web 函数"): the code's `scf_bootstrap` starts the
 * user's own HTTP server on 127.0.0.1:9000 (0.0.0.0 too, as SCF's examples bind); each raw
 * request the activator sends under /web is proxied to it with SCF's X-Scf-* headers, and
 * the answer comes back unchanged. SCF's codes: 446 when the port is not bound within the
 * init timeout, 405 when the process has exited (the instance then goes: the shim exits
 * and the kubelet starts it again), 433 when a request outlives the function's time-out.
 */

import { type ChildProcess, spawn } from "node:child_process";
import { accessSync, constants } from "node:fs";
import {
  Agent,
  createServer,
  type IncomingMessage,
  request,
  type Server,
  type ServerResponse,
} from "node:http";
import { join } from "node:path";
import { HEADER_PREFIX, UpdraftHeaders } from "../protocol/headers.ts";
import { HOP_BY_HOP_HEADERS, INVOKE_BODY_LIMIT_BYTES, keepIdleConnections } from "../protocol/http.ts";
import { SHIM_REFUSAL_HEADER, WEB_FUNCTION_PORT, WEB_PATH_PREFIX } from "../protocol/triggers.ts";
import { settle } from "./drain.ts";
import { recordExitReason } from "./exit-reason.ts";
import { portOpen } from "./image.ts";
import { errorBody } from "./invoke-result.ts";
import { withOpenFilesLimit } from "./limits.ts";
import { MEMORY_SAMPLE_MS, MemorySnapshots } from "./memory.ts";
import { prepareCode } from "./pull-code.ts";
import { scfHeaders } from "./scf-headers.ts";
import { billedMs, endLine, reportLine, startLine } from "./scf-log.ts";
import {
  answerReadyz,
  memoryExceededMessage,
  RESULT_LIMIT_BYTES,
  refusedWithoutKey,
  type ShimConfig,
} from "./shim.ts";

/** Headers of the incoming request the function's server gets: all but hop-by-hop and ours. */
export function forwardedRequestHeaders(h: IncomingMessage["headers"]): Record<string, string | string[]> {
  const out: Record<string, string | string[]> = {};
  for (const [k, v] of Object.entries(h)) {
    if (v === undefined || HOP_BY_HOP_HEADERS.has(k) || k.startsWith(HEADER_PREFIX)) continue;
    out[k] = v;
  }
  return out;
}

type State = "init" | "ready" | "unbound" | "exited";

export class WebShim {
  private readonly cfg: ShimConfig;
  private readonly out: (line: string) => void;
  private server: Server | undefined;
  private proc: ChildProcess | undefined;
  private state: State = "init";
  private draining = false;
  inFlight = 0;
  /** When the last request arrived: a drain waits for a quiet moment (runtime/drain.ts). */
  lastRequestAt = 0;
  // The runtime images carry no npm packages: node:http is the client.
  private readonly agent = new Agent({ keepAlive: true, maxSockets: 256 });
  private exitCode: string = "";

  constructor(cfg: ShimConfig, out: (line: string) => void) {
    this.cfg = cfg;
    this.out = out;
  }

  /**
   * Ready once init has ended either way: an instance whose server never bound or whose
   * process exited at start answers each request at once with SCF's code (446, 405)
   * instead of leaving callers to wait out a cold start that cannot come.
   */
  get ready(): boolean {
    return !this.draining && this.state !== "init";
  }

  async start(): Promise<void> {
    await prepareCode(this.cfg, this.cfg.codeDir);
    this.server = createServer((req, res) => void this.handle(req, res));
    keepIdleConnections(this.server);
    await new Promise<void>((resolve) => this.server!.listen(this.cfg.port, "0.0.0.0", () => resolve()));
    if (this.cfg.imageFunction) {
      // The user's image is its own container: its server is ours to wait for, not to start.
      await this.waitForPort(this.cfg.initTimeoutMs);
      return;
    }
    const bootstrap = join(this.cfg.codeDir, "scf_bootstrap");
    try {
      accessSync(bootstrap, constants.X_OK);
    } catch {
      this.out(`init failed: ${bootstrap} is missing or not executable`);
      this.state = "exited";
      this.exitCode = "no scf_bootstrap";
      return;
    }
    // Through the shell's ulimit: 1,024 open files, as SCF (runtime/limits.ts).
    const [sh, ...shArgs] = withOpenFilesLimit([bootstrap]);
    this.proc = spawn(sh!, shArgs, {
      cwd: this.cfg.codeDir,
      env: { ...this.cfg.env, PORT: String(WEB_FUNCTION_PORT) },
      stdio: ["ignore", "inherit", "inherit"],
      // Its own process group: its memory is measured (and it is stopped) as a whole.
      detached: true,
    });
    this.memoryWatch = setInterval(() => this.checkMemory(), MEMORY_SAMPLE_MS);
    this.memoryWatch.unref();
    this.proc.on("exit", (code, signal) => {
      const wasServing = this.state === "ready";
      this.exitCode = `code ${code ?? "none"}, signal ${signal ?? "none"}`;
      this.state = "exited";
      this.out(`scf_bootstrap exited (${this.exitCode})`);
      // A server that ran and died: requests in flight get their 405, then the container
      // ends and the kubelet starts a fresh instance. One that never started stays to say so.
      if (wasServing && !this.draining) {
        this.draining = true;
        recordExitReason(`scf_bootstrap exited while serving (${this.exitCode})`);
        setTimeout(() => process.exit(1), 1000).unref();
      }
    });
    await this.waitForPort(this.cfg.initTimeoutMs);
  }

  /** Init: until the server listens on 9000 ("ready"), else "unbound" after timeoutMs (446). */
  private async waitForPort(timeoutMs: number): Promise<void> {
    this.state = "init";
    const deadline = Date.now() + timeoutMs;
    while (this.state === "init" && Date.now() < deadline && !this.draining) {
      if (await portOpen("127.0.0.1", WEB_FUNCTION_PORT)) {
        this.state = "ready";
        return;
      }
      await new Promise((r) => setTimeout(r, 20));
    }
    if (this.state === "init") {
      this.state = "unbound";
      this.out(
        `init failed: nothing listens on port ${WEB_FUNCTION_PORT} after ${this.cfg.initTimeoutMs} ms`,
      );
    }
  }

  private memoryWatch: NodeJS.Timeout | undefined;
  private readonly memory = new MemorySnapshots();
  /** The group's resident bytes when it was stopped for going over memoryMB (434). */
  private memoryExceeded = 0;

  /**
   * SCF's 434 for Web functions: the server's process group (scf_bootstrap and what it
   * started) over memoryMB while requests run is stopped; those requests answer 434 and the
   * instance goes as after any exit of the server (see memory.ts for how it is measured).
   */
  private checkMemory(): void {
    const pid = this.proc?.pid;
    if (!pid || this.inFlight === 0 || this.state !== "ready") return;
    const bytes = this.memory.get(0).get(pid) ?? 0;
    if (bytes <= this.cfg.memoryMB * 1024 * 1024) return;
    this.memoryExceeded = bytes;
    this.out(
      `the function used ${Math.round(bytes / 1024 / 1024)} MB, over its ${this.cfg.memoryMB} MB: stopped`,
    );
    try {
      process.kill(-pid, "SIGKILL");
    } catch {
      this.proc?.kill("SIGKILL");
    }
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = req.url ?? "/";
    const path = url.split("?")[0];
    if (path === "/healthz") {
      res.end("ok");
      return;
    }
    if (path === "/readyz") {
      answerReadyz(res, this.ready, this.cfg.env);
      return;
    }
    if (refusedWithoutKey(req, res, this.cfg.instanceKey)) return;
    if (!url.startsWith(`${WEB_PATH_PREFIX}/`)) {
      req.resume();
      res.writeHead(400, { "content-type": "application/json" });
      res.end(errorBody(400, "a Web function is reached through its Http triggers", "InvalidInvocationType"));
      return;
    }
    this.lastRequestAt = Date.now(); // probes above do not count: they never stop during a drain
    if (this.draining || this.inFlight >= this.cfg.perInstance) {
      req.resume();
      res.writeHead(this.draining ? 503 : 429, {
        "content-type": "application/json",
        [SHIM_REFUSAL_HEADER]: "true",
        // Draining: the activator retries it elsewhere and drops this kept-alive connection.
        ...(this.draining ? { connection: "close" } : {}),
      });
      res.end(
        errorBody(
          this.draining ? 500 : 429,
          this.draining ? "instance draining" : "instance at capacity",
          "InstanceRefused",
        ),
      );
      return;
    }
    const id = String(req.headers[UpdraftHeaders.requestId] ?? crypto.randomUUID());
    if (this.state !== "ready") {
      req.resume();
      const [code, msg, type] =
        this.state === "unbound"
          ? [
              446,
              `the function's server did not listen on port ${WEB_FUNCTION_PORT} within the init timeout`,
              "PortBindingFailed",
            ]
          : this.state === "exited"
            ? [405, `the function's process exited (${this.exitCode})`, "UserProcessExited"]
            : [500, "the function is starting", "NotReady"];
      this.fail(res, id, code as number, msg as string, type as string);
      return;
    }
    this.inFlight++;
    this.out(startLine(id));
    const t0 = performance.now();
    try {
      const upstream = await this.proxy(req, url.slice(WEB_PATH_PREFIX.length), id);
      const headers: Record<string, string | string[]> = {};
      for (const [k, v] of Object.entries(upstream.headers))
        if (v !== undefined && !HOP_BY_HOP_HEADERS.has(k)) headers[k] = v;
      const ms = performance.now() - t0;
      res.writeHead(upstream.status, {
        ...headers,
        [UpdraftHeaders.durationMs]: String(Math.round(ms)),
        [UpdraftHeaders.billedDurationMs]: String(billedMs(ms)),
      });
      res.end(upstream.body);
    } catch (err) {
      const e = err as { code?: string };
      if (e.code === "RequestTooLarge") {
        res.writeHead(413, { "content-type": "application/json", connection: "close" });
        res.end(errorBody(406, `the body is over ${INVOKE_BODY_LIMIT_BYTES} bytes`, "RequestTooLarge"));
      } else if (e.code === "ResultTooLarge")
        // SCF's 407 in the body, HTTP 502 on the wire: a 407 status means "proxy
        // authentication required" to HTTP clients (fetch turns it into a network error).
        this.fail(
          res,
          id,
          407,
          `the function's answer is over ${RESULT_LIMIT_BYTES} bytes`,
          "ResultTooLarge",
          502,
        );
      else if (this.memoryExceeded > 0)
        this.fail(
          res,
          id,
          434,
          memoryExceededMessage(this.memoryExceeded, this.cfg.memoryMB),
          "MemoryLimitReached",
        );
      else if ((this.state as State) === "exited")
        this.fail(res, id, 405, `the function's process exited (${this.exitCode})`, "UserProcessExited");
      else if (this.cfg.imageFunction && e.code !== "TimeLimitReached") {
        // The image's server went away (its container exited; the kubelet restarts it):
        // SCF's 405, and not ready until it listens again.
        this.fail(
          res,
          id,
          405,
          `the function's container is not serving: ${String(err)}`,
          "UserProcessExited",
        );
        if (this.state === "ready") void this.waitForPort(this.cfg.initTimeoutMs);
      } else if (e.code === "TimeLimitReached")
        this.fail(
          res,
          id,
          433,
          `Invoking task timed out after ${Math.round(this.cfg.timeoutMs / 1000)} seconds`,
          "TimeLimitReached",
        );
      else
        this.fail(
          res,
          id,
          405,
          `the function's server failed the request: ${String(err)}`,
          "UserProcessError",
        );
    } finally {
      this.inFlight--;
      const ms = performance.now() - t0;
      this.out(endLine(id));
      const pid = this.proc?.pid;
      // The sampler's figure when it is fresh: a read of /proc per request cost more than
      // the request (memory.ts, MemorySnapshots).
      const mem = this.memoryExceeded || (pid ? (this.memory.get(MEMORY_SAMPLE_MS).get(pid) ?? 0) : 0);
      this.out(reportLine(id, ms, this.cfg.memoryMB, mem));
    }
  }

  /** One request to the function's server, within the function's time-out. */
  private proxy(
    req: IncomingMessage,
    path: string,
    id: string,
  ): Promise<{ status: number; headers: IncomingMessage["headers"]; body: Buffer }> {
    return new Promise((resolve, reject) => {
      const out = request(
        {
          host: "127.0.0.1",
          port: WEB_FUNCTION_PORT,
          method: req.method ?? "GET",
          path,
          headers: { ...forwardedRequestHeaders(req.headers), ...scfHeaders(this.cfg, id) },
          agent: this.agent,
        },
        (upstream) => {
          const chunks: Buffer[] = [];
          let received = 0;
          upstream.on("data", (c: Buffer) => {
            received += c.length;
            // The answer is held whole before it is sent on: past SCF's 6 MB it is dropped,
            // so a server that streams without end cannot take the shim's memory.
            if (received > RESULT_LIMIT_BYTES) {
              clearTimeout(timer);
              upstream.destroy();
              reject(Object.assign(new Error("answer over the limit"), { code: "ResultTooLarge" }));
              return;
            }
            chunks.push(c);
          });
          upstream.on("end", () => {
            clearTimeout(timer);
            resolve({
              status: upstream.statusCode ?? 502,
              headers: upstream.headers,
              body: Buffer.concat(chunks),
            });
          });
          upstream.on("error", reject);
        },
      );
      const timer = setTimeout(() => {
        out.destroy(Object.assign(new Error("time-out"), { code: "TimeLimitReached" }));
      }, this.cfg.timeoutMs);
      out.on("error", (err) => {
        clearTimeout(timer);
        reject(err);
      });
      // A body over SCF's 6 MB (a call that bypassed the activator's limit) is not passed on.
      let sent = 0;
      req.on("data", (c: Buffer) => {
        sent += c.length;
        if (sent > INVOKE_BODY_LIMIT_BYTES) {
          req.unpipe(out);
          req.pause();
          clearTimeout(timer);
          out.destroy(Object.assign(new Error("body over the limit"), { code: "RequestTooLarge" }));
        }
      });
      req.pipe(out);
    });
  }

  private fail(
    res: ServerResponse,
    id: string,
    code: number,
    message: string,
    type: string,
    httpStatus = code,
  ): void {
    res.writeHead(httpStatus, {
      "content-type": "application/json",
      [UpdraftHeaders.functionError]: String(code),
      [UpdraftHeaders.requestId]: id,
    });
    res.end(errorBody(code, message, type));
  }

  async drain(): Promise<void> {
    this.draining = true;
    await settle(this, Date.now() + this.cfg.timeoutMs + 1000);
    clearInterval(this.memoryWatch);
    if (this.proc?.pid && !this.proc.killed) {
      try {
        process.kill(-this.proc.pid, "SIGTERM");
      } catch {
        // already gone
      }
    }
    this.agent.destroy();
    await new Promise<void>((resolve) => {
      if (!this.server) return resolve();
      const t = setTimeout(resolve, 2000);
      this.server.close(() => {
        clearTimeout(t);
        resolve();
      });
    });
  }
}
