/**
 * The activator's invoke API (docs/data-path.md):
 *   POST /v1/namespaces/{ns}/functions/{name}/invocations
 * Validates the event (435 unknown function, 406 over 6 MB, 400 not JSON), takes a slot on
 * a ready instance — waiting for one while the function scales from zero — forwards to the
 * instance's runtime shim, and answers with the function's result and X-Updraft-* headers.
 * Error codes become HTTP statuses here, at the edge, and nowhere else.
 */
import { randomUUID } from "node:crypto";
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import { Server as NetServer, type Socket } from "node:net";
import type { Counter, Histogram } from "prom-client";
import { Agent, type Dispatcher, request } from "undici";
import { ASYNC_LIMIT_BYTES, type AsyncQueue, type EnqueueOptions } from "../async/queue.ts";
import { UpdraftError } from "../lib/errors.ts";
import type { Logger } from "../lib/logger.ts";
import { edgeError, RETRY_AFTER_SECONDS } from "../protocol/errors.ts";
import { HEADER_PREFIX, UpdraftHeaders } from "../protocol/headers.ts";
import { HOP_BY_HOP_HEADERS } from "../protocol/http.ts";
import {
  IDEMPOTENCY_KEY_PATTERN,
  InstanceHeaders,
  InvokeHeaders,
  requestIdForKey,
  SHIM_REFUSAL_HEADER,
  TRIGGER_SOURCE_PATTERN,
  WEB_PATH_PREFIX,
} from "../protocol/triggers.ts";
import type { Instance } from "./capacity.ts";
import { apiGatewayEvent, type HttpRoutes, httpAnswer, parseHttpUrl } from "./http-trigger.ts";
import type { FunctionState, FunctionTable, Slot } from "./table.ts";

export const SYNC_LIMIT_BYTES = 6 * 1024 * 1024;

/** The shim's answer headers the caller gets. */
const FORWARDED_HEADERS: readonly string[] = [
  UpdraftHeaders.durationMs,
  UpdraftHeaders.billedDurationMs,
  UpdraftHeaders.initDurationMs,
  UpdraftHeaders.functionError,
  UpdraftHeaders.logResult,
];

/** Reads and drops the rest of a request body; destroys the connection past `cap` bytes. */
function discardBody(req: IncomingMessage, cap: number): Promise<void> {
  return new Promise((resolve) => {
    if (req.readableEnded) {
      resolve();
      return;
    }
    let seen = 0;
    req.on("data", (c: Buffer) => {
      seen += c.length;
      if (seen > cap) {
        req.socket.destroy();
        resolve();
      }
    });
    req.once("end", () => resolve());
    req.once("close", () => resolve());
    req.resume();
  });
}

/** Errors raised before a connection existed: the instance never saw the request. */
export function notDelivered(err: unknown): boolean {
  const code = (err as { code?: string }).code;
  return (
    code === "ECONNREFUSED" ||
    code === "EHOSTUNREACH" ||
    code === "ENETUNREACH" ||
    code === "UND_ERR_CONNECT_TIMEOUT" ||
    (code === "UND_ERR_SOCKET" &&
      /ECONNREFUSED|EHOSTUNREACH/.test(String((err as { cause?: unknown }).cause)))
  );
}

/** SCF's codes as the invoke API's HTTP statuses (the edge's table: protocol/errors.ts). */
export function httpError(code: string): { status: number; scfCode: number } {
  const e = edgeError(code);
  return { status: e.sync, scfCode: e.scf };
}

/** An Http trigger's raw request, for a Web function. */
interface WebRequest {
  method: string;
  path: string;
  query: string;
  headers: IncomingMessage["headers"];
  body: Buffer;
}

/** A function's answer from its instance. */
interface Invocation {
  /** The X-Updraft-* headers the caller gets. */
  headers: Record<string, string>;
  /** Web functions: their server's status and headers. */
  status?: number;
  webHeaders?: Record<string, string | string[]>;
  payload: Buffer;
  functionError: boolean;
  executionMs: number;
}

type Outcome = Invocation | "retry" | "busy";

export interface InvokeOptions {
  logType?: string;
  /** An async event: the instance remembers its outcome, a repeat never runs twice. */
  async?: boolean;
  /** Which attempt of the async event this is (a planned retry runs again; a repeat does not). */
  attempt?: number;
  /** The instance a previous delivery of this event was sent to. */
  preferInstance?: string;
  /** Called (and awaited) before the event is sent to an instance. */
  beforeForward?: (ip: string) => Promise<void>;
  /** What fired the event (TRIGGER_SRC in the function), e.g. "timer". */
  triggerSource?: string;
  /** A Web function's raw request (the body is the invoke's body). */
  web?: WebRequest;
}

/** Request bodies of HTTP triggers: 6 MB, as SCF's synchronous limit. */
const HTTP_BODY_LIMIT_BYTES = 6 * 1024 * 1024;

/** Platform refusals to HTTP-trigger callers: status as HTTP clients know them, SCF's code in the body. */
export function httpTriggerError(code: string): { status: number; scfCode: number } {
  const e = edgeError(code);
  return { status: e.http, scfCode: e.scf };
}

export interface ServerLimits {
  /** Request bytes held at once, all requests together (then 503 ActivatorOverloaded). */
  maxBufferedBytes: number;
  /** How long a request's body may take to arrive (then 408 RequestTimeout). */
  bodyTimeoutMs: number;
}

export const DEFAULT_SERVER_LIMITS: ServerLimits = {
  maxBufferedBytes: 256 * 1024 * 1024,
  bodyTimeoutMs: 30_000,
};

/**
 * Bytes the activator holds in request bodies. Example: limit 256 MiB and 40 requests of
 * 6 MiB held → 240 MiB used; a 41st's first 17 MiB fit, its 18th does not.
 */
export class ByteBudget {
  readonly limit: number;
  used = 0;

  constructor(limit: number) {
    this.limit = limit;
  }

  take(n: number): boolean {
    if (this.used + n > this.limit) return false;
    this.used += n;
    return true;
  }

  give(n: number): void {
    this.used = Math.max(0, this.used - n);
  }
}

export interface ActivatorMetrics {
  requests: Counter<"namespace" | "function" | "code">;
  duration: Histogram<"namespace" | "function">;
}

/** The idle time we ask clients to keep a connection at most (the Keep-Alive header). */
const CLIENT_IDLE_HINT_SECONDS = 5;

export class ActivatorServer {
  private readonly table: FunctionTable;
  private readonly routes: HttpRoutes;
  /** The async queue, once NATS is connected. */
  queue: AsyncQueue | undefined;
  private readonly log: Logger;
  private readonly metrics: ActivatorMetrics;
  private readonly dispatcher = new Agent({ keepAliveTimeout: 60_000, connections: 256, pipelining: 0 });
  private server: Server | undefined;
  private inFlight = 0;
  /**
   * Set on SIGTERM (beginDrain): readiness fails, so the Service stops sending here, and
   * every answer carries `Connection: close`, so kept-alive clients reconnect to another
   * activator — while requests that still arrive (before every node has dropped this
   * endpoint) are served as usual, not refused.
   */
  draining = false;
  /** Set by drain(), after that window: new requests are refused with a coded error. */
  private closed = false;
  /** When the last request arrived: drain() waits for a quiet moment before closing. */
  private lastRequestAt = 0;
  /** Open client connections, so a drain can wait for their clients to close them. */
  private readonly sockets = new Set<Socket>();

  private readonly limits: ServerLimits;
  private readonly bytes: ByteBudget;

  constructor(
    table: FunctionTable,
    routes: HttpRoutes,
    log: Logger,
    metrics: ActivatorMetrics,
    limits: ServerLimits = DEFAULT_SERVER_LIMITS,
  ) {
    this.limits = limits;
    this.bytes = new ByteBudget(limits.maxBufferedBytes);
    this.table = table;
    this.routes = routes;
    this.log = log;
    this.metrics = metrics;
  }

  listen(port: number): Promise<void> {
    this.server = createServer((req, res) => {
      this.handle(req, res).catch((err: unknown) => {
        this.log.error("request failed", { err: String(err) });
        if (!res.headersSent)
          this.fail(res, "", new UpdraftError("InternalError", "internal error", { cause: err }));
      });
    });
    this.server.on("connection", (socket: Socket) => {
      this.sockets.add(socket);
      socket.once("close", () => this.sockets.delete(socket));
    });
    // Idle kept-alive connections are closed by the clients, never by us while they may be
    // sending: we advertise `Keep-Alive: timeout=5` (clients such as undici close an idle
    // connection a second before that), and reap idle ones ourselves only after 65 s, for
    // proxies that ignore the hint and keep theirs 60 s (nginx's upstream default).
    this.server.keepAliveTimeout = 65_000;
    this.server.headersTimeout = 66_000;
    return new Promise((resolve) => this.server!.listen(port, "0.0.0.0", () => resolve()));
  }

  private fail(res: ServerResponse, requestId: string, err: UpdraftError): void {
    const { status, scfCode } = httpError(err.code);
    res.writeHead(status, {
      "Content-Type": "application/json",
      ...(requestId ? { [UpdraftHeaders.requestId]: requestId } : {}),
      // Refusals that pass: say when to come back.
      ...(status === 429 || status === 503 ? { "Retry-After": String(RETRY_AFTER_SECONDS) } : {}),
      // A body we stopped reading (too slow, too large, no room) is not worth waiting for.
      ...(err.code === "RequestTimeout" || err.code === "ActivatorOverloaded" ? { Connection: "close" } : {}),
    });
    res.end(
      JSON.stringify({ errorCode: scfCode, errorMessage: err.message, errorType: err.code, stackTrace: "" }),
    );
  }

  /**
   * The body, or RequestTooLarge past `limit` (the stream is left open, to be drained). Its
   * bytes count against the activator's budget of held request bytes until the answer is
   * sent (ActivatorOverloaded, 503, past it), and it must arrive within the body time-out
   * (RequestTimeout, 408): a slow or stalled upload cannot hold memory or a slot for long.
   */
  private readBody(req: IncomingMessage, res: ServerResponse, limit: number): Promise<Buffer> {
    const declared = Number(req.headers["content-length"] ?? 0);
    if (declared > limit) {
      return Promise.reject(
        new UpdraftError("RequestTooLarge", `event is ${declared} bytes; the limit is ${limit}`),
      );
    }
    let held = 0;
    res.once("close", () => this.bytes.give(held));
    return new Promise((resolve, reject) => {
      const chunks: Buffer[] = [];
      let size = 0;
      const stop = (err: UpdraftError) => {
        clearTimeout(timer);
        req.off("data", onData);
        req.off("end", onEnd);
        reject(err);
      };
      const timer = setTimeout(
        () =>
          stop(
            new UpdraftError(
              "RequestTimeout",
              `the request body did not arrive within ${this.limits.bodyTimeoutMs} ms`,
            ),
          ),
        this.limits.bodyTimeoutMs,
      );
      const onData = (c: Buffer) => {
        size += c.length;
        if (size > limit) return stop(new UpdraftError("RequestTooLarge", `event is over ${limit} bytes`));
        if (!this.bytes.take(c.length))
          return stop(
            new UpdraftError(
              "ActivatorOverloaded",
              `this activator holds ${this.bytes.used} bytes of requests, its limit is ${this.bytes.limit}`,
            ),
          );
        held += c.length;
        chunks.push(c);
      };
      const onEnd = () => {
        clearTimeout(timer);
        resolve(Buffer.concat(chunks));
      };
      req.on("data", onData);
      req.once("end", onEnd);
      req.once("error", (err) => {
        clearTimeout(timer);
        reject(err);
      });
    });
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    this.lastRequestAt = Date.now();
    res.setHeader("Keep-Alive", `timeout=${CLIENT_IDLE_HINT_SECONDS}`);
    if (this.draining) res.setHeader("Connection", "close");
    const url = req.url ?? "/";
    const http = parseHttpUrl(url);
    if (http) {
      await this.handleHttp(req, res, http);
      return;
    }
    const rec = /^\/v1\/namespaces\/([a-z0-9-]+)\/invocations\/([A-Za-z0-9-]+)\/?$/.exec(url);
    if (rec && req.method === "GET") {
      await this.getInvocation(res, rec[1]!, rec[2]!);
      return;
    }
    const dl = /^\/v1\/namespaces\/([a-z0-9-]+)\/functions\/([a-z0-9-]+)\/dead-letters\/?$/.exec(url);
    if (dl && req.method === "POST") {
      await this.postDeadLetter(req, res, dl[1]!, dl[2]!);
      return;
    }
    const m = /^\/v1\/namespaces\/([a-z0-9-]+)\/functions\/([a-z0-9-]+)\/invocations\/?(\?.*)?$/.exec(url);
    if (!m || req.method !== "POST") {
      req.resume();
      this.fail(res, "", new UpdraftError("NotFound", `no route for ${req.method} ${url}`));
      return;
    }
    const [, ns, name] = m as unknown as [string, string, string];
    const keyHeader = req.headers[InvokeHeaders.idempotencyKey];
    const idempotencyKey = typeof keyHeader === "string" ? keyHeader : undefined;
    const requestId = idempotencyKey ? requestIdForKey(ns, name, idempotencyKey) : randomUUID();
    const trigger = headerValue(req, InvokeHeaders.trigger);
    const triggerSource = headerValue(req, InvokeHeaders.triggerSource);
    if (
      (idempotencyKey !== undefined && !IDEMPOTENCY_KEY_PATTERN.test(idempotencyKey)) ||
      (trigger !== undefined && !/^[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?$/.test(trigger)) ||
      (triggerSource !== undefined && !TRIGGER_SOURCE_PATTERN.test(triggerSource))
    ) {
      req.resume();
      this.fail(
        res,
        requestId,
        new UpdraftError(
          "InvalidParameter",
          `${InvokeHeaders.idempotencyKey} (1-256 printable characters), ${InvokeHeaders.trigger} (a Trigger's name) or ${InvokeHeaders.triggerSource} ([a-z0-9-]) is malformed`,
        ),
      );
      return;
    }
    const st = this.table.get(ns, name);
    if (!st) {
      req.resume();
      this.count(ns, name, 435);
      this.fail(res, requestId, new UpdraftError("FunctionNotFound", `function ${ns}/${name} not found`));
      return;
    }
    const invocationType = String(req.headers[UpdraftHeaders.invocationType] ?? "RequestResponse");
    if (invocationType !== "RequestResponse" && invocationType !== "Event") {
      req.resume();
      this.fail(
        res,
        requestId,
        new UpdraftError(
          "InvalidInvocationType",
          `X-Updraft-Invocation-Type must be RequestResponse or Event, not "${invocationType}"`,
        ),
      );
      return;
    }
    const async = invocationType === "Event";
    if (st.spec.type === "Web") {
      req.resume();
      this.fail(
        res,
        requestId,
        new UpdraftError(
          "InvalidInvocationType",
          `${name} is a Web function: it is reached through its Http triggers, not the invoke API`,
        ),
      );
      return;
    }
    let body: Buffer;
    try {
      body = await this.readBody(req, res, async ? ASYNC_LIMIT_BYTES : SYNC_LIMIT_BYTES);
      if (body.length > 0) JSON.parse(body.toString());
      else body = Buffer.from("{}");
    } catch (err) {
      const e =
        err instanceof UpdraftError ? err : new UpdraftError("InvalidEvent", "the event is not valid JSON");
      this.count(ns, name, httpError(e.code).status);
      // Answer once the client has finished sending: a client still uploading when the
      // connection closes sees a reset, not our 406. Past 4× the limit, cut it off.
      if (e.code === "RequestTooLarge") await discardBody(req, 4 * SYNC_LIMIT_BYTES);
      this.fail(res, requestId, e);
      return;
    }
    if (async) {
      await this.enqueue(res, st, ns, name, requestId, body, {
        ...(trigger ? { trigger } : {}),
        ...(triggerSource ? { triggerSource } : {}),
        idempotent: idempotencyKey !== undefined,
      });
      return;
    }
    const logType = req.headers[UpdraftHeaders.logType];
    const start = performance.now();
    let result: Invocation;
    try {
      result = await this.invoke(st, body, requestId, {
        ...(typeof logType === "string" ? { logType } : {}),
        ...(triggerSource ? { triggerSource } : {}),
      });
    } catch (err) {
      const e = err instanceof UpdraftError ? err : new UpdraftError("InternalError", String(err));
      this.count(ns, name, httpError(e.code).status);
      this.fail(res, requestId, e);
      return;
    }
    res.writeHead(200, {
      "Content-Type": "application/json",
      [UpdraftHeaders.requestId]: requestId,
      ...result.headers,
    });
    res.end(result.payload);
    this.count(ns, name, 200);
    this.metrics.duration.observe({ namespace: ns, function: name }, (performance.now() - start) / 1000);
  }

  /**
   * An async event (X-Updraft-Invocation-Type: Event): 202 with the request id only once
   * JetStream stored it; a full queue is 429 (AsyncQueueFull), no queue 503.
   */
  private async enqueue(
    res: ServerResponse,
    st: FunctionState,
    ns: string,
    name: string,
    requestId: string,
    body: Buffer,
    opts: EnqueueOptions,
  ): Promise<void> {
    let stored: "stored" | "duplicate";
    try {
      if (st.spec.type === "Web")
        throw new UpdraftError(
          "InvalidInvocationType",
          `${name} is a Web function: it takes no async events`,
        );
      if (!this.queue) throw new UpdraftError("QueueUnavailable", "the async queue is not connected yet");
      stored = await this.queue.enqueue(ns, name, requestId, body, Date.now(), opts);
    } catch (err) {
      const e = err instanceof UpdraftError ? err : new UpdraftError("InternalError", String(err));
      this.count(ns, name, httpError(e.code).status);
      this.fail(res, requestId, e);
      return;
    }
    this.count(ns, name, 202);
    res.writeHead(202, {
      "Content-Type": "application/json",
      [UpdraftHeaders.requestId]: requestId,
      ...(stored === "duplicate" ? { [InvokeHeaders.duplicate]: "true" } : {}),
    });
    res.end(JSON.stringify(stored === "duplicate" ? { requestId, duplicate: true } : { requestId }));
  }

  /**
   * POST /v1/namespaces/{ns}/functions/{name}/dead-letters: a pull adapter (Kafka) whose
   * batch failed every retry hands it here, and it goes to the function's dead-letter
   * target exactly as a failed async event does. Body: {requestId, errorCode, errorMessage,
   * attempts, event}. 200 {deadLetter: where} ("none" when the function has no target).
   */
  private async postDeadLetter(
    req: IncomingMessage,
    res: ServerResponse,
    ns: string,
    name: string,
  ): Promise<void> {
    const requestId = randomUUID();
    try {
      const st = this.table.get(ns, name);
      if (!st) {
        req.resume();
        throw new UpdraftError("FunctionNotFound", `function ${ns}/${name} not found`);
      }
      const body = await this.readBody(req, res, SYNC_LIMIT_BYTES);
      let d: {
        requestId?: unknown;
        errorCode?: unknown;
        errorMessage?: unknown;
        attempts?: unknown;
        event?: unknown;
      };
      try {
        d = JSON.parse(body.toString()) as typeof d;
      } catch {
        throw new UpdraftError("InvalidEvent", "the dead letter is not valid JSON");
      }
      if (typeof d.requestId !== "string" || !/^[A-Za-z0-9-]{1,128}$/.test(d.requestId))
        throw new UpdraftError("InvalidParameter", "requestId must be 1-128 letters, digits or '-'");
      if (!this.queue) throw new UpdraftError("QueueUnavailable", "the async queue is not connected yet");
      const letter = Buffer.from(
        JSON.stringify({
          RequestID: d.requestId,
          ErrorCode: typeof d.errorCode === "number" ? d.errorCode : 500,
          ErrorMessage: typeof d.errorMessage === "string" ? d.errorMessage : "failed",
          Reason: "RetriesExhausted",
          Namespace: ns,
          FunctionName: name,
          Attempts: typeof d.attempts === "number" ? d.attempts : 0,
          Event: d.event ?? null,
        }),
      );
      const where = await this.queue.sendDeadLetter(
        ns,
        st.spec.async.deadLetter,
        d.requestId,
        letter,
        Date.now(),
      );
      res.writeHead(200, { "Content-Type": "application/json" });
      res.end(JSON.stringify({ deadLetter: where ?? "none" }));
    } catch (err) {
      this.fail(
        res,
        requestId,
        err instanceof UpdraftError ? err : new UpdraftError("InternalError", String(err)),
      );
    }
  }

  /** GET /v1/namespaces/{ns}/invocations/{requestId}: the invocation's record. */
  private async getInvocation(res: ServerResponse, ns: string, requestId: string): Promise<void> {
    try {
      if (!this.queue) throw new UpdraftError("QueueUnavailable", "the async queue is not connected yet");
      const rec = await this.queue.getRecord(ns, requestId);
      if (!rec) throw new UpdraftError("InvocationNotFound", `no invocation ${requestId} in ${ns}`);
      res.writeHead(200, { "Content-Type": "application/json" });
      res.end(JSON.stringify(rec));
    } catch (err) {
      this.fail(
        res,
        requestId,
        err instanceof UpdraftError ? err : new UpdraftError("InternalError", String(err)),
      );
    }
  }

  /**
   * An HTTP trigger's request: /http/{namespace}{path}. The function gets SCF's
   * API-gateway event; the caller gets the function's answer (integrated or not). Limits
   * answer as HTTP clients expect: 429 with Retry-After over the concurrency limit or a
   * full queue, 503 with Retry-After when no instance came up.
   */
  private async handleHttp(
    req: IncomingMessage,
    res: ServerResponse,
    target: { namespace: string; path: string; query: string },
  ): Promise<void> {
    const requestId = randomUUID();
    const method = req.method ?? "GET";
    const m = this.routes.match(target.namespace, target.path, method);
    if (m.kind !== "found") {
      req.resume();
      const e =
        m.kind === "method"
          ? new UpdraftError("MethodNotAllowed", `${method} is not served on ${target.path}`)
          : new UpdraftError("NotFound", `no HTTP trigger serves ${target.path} in ${target.namespace}`);
      this.failHttp(res, requestId, e);
      return;
    }
    const { route } = m;
    const st = this.table.get(route.namespace, route.function);
    if (!st) {
      req.resume();
      this.failHttp(
        res,
        requestId,
        new UpdraftError("FunctionNotFound", `function ${route.namespace}/${route.function} not found`),
      );
      return;
    }
    let raw: Buffer;
    try {
      raw = await this.readBody(req, res, HTTP_BODY_LIMIT_BYTES);
    } catch (err) {
      const e = err instanceof UpdraftError ? err : new UpdraftError("InternalError", String(err));
      if (e.code === "RequestTooLarge") await discardBody(req, 4 * SYNC_LIMIT_BYTES);
      this.count(route.namespace, route.function, httpError(e.code).status);
      this.failHttp(res, requestId, e);
      return;
    }
    if (st.spec.type === "Web") {
      await this.serveWeb(res, st, route, requestId, {
        method,
        path: target.path,
        query: target.query,
        headers: req.headers,
        body: raw,
      });
      return;
    }
    const event = apiGatewayEvent(
      {
        method,
        path: target.path,
        query: target.query,
        headers: req.headers,
        body: raw,
        sourceIp: (req.socket.remoteAddress ?? "").replace(/^::ffff:/, ""),
        requestId,
      },
      route,
    );
    const start = performance.now();
    let result: Invocation;
    try {
      result = await this.invoke(st, Buffer.from(JSON.stringify(event)), requestId);
    } catch (err) {
      const e = err instanceof UpdraftError ? err : new UpdraftError("InternalError", String(err));
      this.count(route.namespace, route.function, httpError(e.code).status);
      this.failHttp(res, requestId, e);
      return;
    }
    this.count(route.namespace, route.function, 200);
    this.metrics.duration.observe(
      { namespace: route.namespace, function: route.function },
      (performance.now() - start) / 1000,
    );
    // A function error is the gateway's 502 with SCF's error body.
    const answer = result.functionError
      ? { status: 502, headers: { "content-type": "application/json" }, body: result.payload }
      : httpAnswer(result.payload, route.integratedResponse);
    res.writeHead(answer.status, { ...answer.headers, [UpdraftHeaders.requestId]: requestId });
    res.end(answer.body);
  }

  /**
   * A Web function's Http trigger: the raw request goes to an instance (through the same
   * admission, slots and cold start as any call) and its server's answer comes back as it
   * is, hop-by-hop headers dropped.
   */
  private async serveWeb(
    res: ServerResponse,
    st: FunctionState,
    route: { namespace: string; function: string },
    requestId: string,
    web: WebRequest,
  ): Promise<void> {
    const start = performance.now();
    let result: Invocation;
    try {
      result = await this.invoke(st, web.body, requestId, { web });
    } catch (err) {
      const e = err instanceof UpdraftError ? err : new UpdraftError("InternalError", String(err));
      this.count(route.namespace, route.function, httpError(e.code).status);
      this.failHttp(res, requestId, e);
      return;
    }
    const status = result.status ?? 200;
    this.count(route.namespace, route.function, status);
    this.metrics.duration.observe(
      { namespace: route.namespace, function: route.function },
      (performance.now() - start) / 1000,
    );
    res.writeHead(status, { ...result.webHeaders, [UpdraftHeaders.requestId]: requestId });
    res.end(result.payload);
  }

  /** A platform refusal to an HTTP caller: SCF's body; 429/503 say when to come back. */
  private failHttp(res: ServerResponse, requestId: string, err: UpdraftError): void {
    const { status, scfCode } = httpTriggerError(err.code);
    res.writeHead(status, {
      "Content-Type": "application/json",
      [UpdraftHeaders.requestId]: requestId,
      ...(status === 429 || status === 503 ? { "Retry-After": String(RETRY_AFTER_SECONDS) } : {}),
    });
    res.end(
      JSON.stringify({ errorCode: scfCode, errorMessage: err.message, errorType: err.code, stackTrace: "" }),
    );
  }

  /**
   * Runs an event on an instance: admitted (or ConcurrencyLimit), a slot taken (waiting
   * for a cold start if need be), forwarded; sent again when it provably did not run
   * (instance gone, draining, or at capacity). Throws UpdraftError for every refusal.
   */
  async invoke(
    st: FunctionState,
    body: Buffer,
    requestId: string,
    opts: InvokeOptions = {},
  ): Promise<Invocation> {
    if (this.closed) throw new UpdraftError("NoInstanceReady", "activator is shutting down");
    // Bounded wait: long enough for an instance to start and initialise.
    const deadline = Date.now() + (st.spec.initTimeoutSeconds + st.spec.timeoutSeconds) * 1000;
    this.table.admit(st);
    let executionMs: number | undefined;
    this.inFlight++;
    try {
      // A repeated async event goes first to the instance that had it: that instance
      // answers with the run it already has (or refuses it as unknown and at capacity).
      const previous = opts.preferInstance
        ? st.instances.find((i) => i.ip === opts.preferInstance)
        : undefined;
      if (previous) {
        await opts.beforeForward?.(previous.ip);
        const outcome = await this.forward(st, previous, body, requestId, false, opts);
        if (typeof outcome === "object") {
          executionMs = outcome.executionMs;
          return outcome;
        }
      }
      let again = false;
      for (;;) {
        // No instance at all: this request is the one waiting for a cold start.
        const cold = st.instances.length === 0;
        const slot: Slot = await this.table.acquire(st, Math.max(1, deadline - Date.now()), again);
        let outcome: Outcome | undefined;
        try {
          // Recorded before it is sent: a repeat after a crash knows where it may have run.
          await opts.beforeForward?.(slot.inst.ip);
          outcome = await this.forward(st, slot.inst, body, requestId, cold, opts);
        } finally {
          this.table.release(st, slot, !(outcome === "busy" || outcome === "retry"));
        }
        if (typeof outcome === "object") {
          executionMs = outcome.executionMs;
          return outcome;
        }
        if (outcome === "busy") this.table.markBusy(st, slot.inst);
        else this.table.markUnreachable(st, slot.inst);
        again = true;
      }
    } finally {
      this.inFlight--;
      this.table.finish(st, executionMs);
    }
  }

  /**
   * Sends the event to one instance: its answer, or "retry" when it provably never got
   * there, or "busy" when it refused it as at capacity. Throws when the outcome is unknown.
   */
  private async forward(
    st: FunctionState,
    inst: Instance,
    body: Buffer,
    requestId: string,
    cold: boolean,
    opts: InvokeOptions,
  ): Promise<Outcome> {
    if (opts.web) return this.forwardWeb(st, inst, body, requestId, cold, opts.web);
    let upstream: Dispatcher.ResponseData;
    const sent = performance.now();
    try {
      upstream = await request(`http://${inst.ip}:8080/invoke`, {
        method: "POST",
        body,
        headers: {
          "content-type": "application/json",
          [UpdraftHeaders.requestId]: requestId,
          ...(cold ? { [UpdraftHeaders.coldStart]: "true" } : {}),
          ...(opts.logType ? { [UpdraftHeaders.logType]: opts.logType } : {}),
          ...(opts.triggerSource ? { [InstanceHeaders.triggerSource]: opts.triggerSource } : {}),
          ...(opts.async
            ? { [UpdraftHeaders.async]: "true", [UpdraftHeaders.attempt]: String(opts.attempt ?? 1) }
            : {}),
        },
        dispatcher: this.dispatcher,
        headersTimeout: (st.spec.timeoutSeconds + 10) * 1000,
        bodyTimeout: (st.spec.timeoutSeconds + 10) * 1000,
      });
    } catch (err) {
      if (notDelivered(err)) return "retry";
      throw new UpdraftError("InternalError", `forwarding to ${inst.ip} failed: ${String(err)}`, {
        cause: err,
      });
    }
    const payload = Buffer.from(await upstream.body.arrayBuffer());
    if (upstream.statusCode === 503) return "retry"; // the instance is draining: it did not run it
    if (upstream.statusCode === 429) return "busy"; // another activator filled it: it did not run it
    if (upstream.statusCode !== 200)
      throw new UpdraftError("InternalError", `instance answered ${upstream.statusCode}: ${payload}`);
    const headers: Record<string, string> = {};
    for (const h of FORWARDED_HEADERS) {
      const v = upstream.headers[h];
      if (v !== undefined) headers[h] = String(v);
    }
    const ran = Number(upstream.headers[UpdraftHeaders.durationMs]);
    return {
      headers,
      payload,
      functionError: upstream.headers[UpdraftHeaders.functionError] !== undefined,
      executionMs: Number.isFinite(ran) ? ran : performance.now() - sent,
    };
  }

  /** A Web function's raw request to one instance; see forward() for the outcomes. */
  private async forwardWeb(
    st: FunctionState,
    inst: Instance,
    body: Buffer,
    requestId: string,
    cold: boolean,
    web: WebRequest,
  ): Promise<Outcome> {
    let upstream: Dispatcher.ResponseData;
    const sent = performance.now();
    const headers: Record<string, string | string[]> = {};
    for (const [k, v] of Object.entries(web.headers))
      if (v !== undefined && !HOP_BY_HOP_HEADERS.has(k) && !k.startsWith(HEADER_PREFIX)) headers[k] = v;
    try {
      upstream = await request(
        `http://${inst.ip}:8080${WEB_PATH_PREFIX}${web.path}${web.query ? `?${web.query}` : ""}`,
        {
          method: web.method as "GET",
          body: web.method === "GET" || web.method === "HEAD" ? null : body,
          headers: {
            ...headers,
            [UpdraftHeaders.requestId]: requestId,
            ...(cold ? { [UpdraftHeaders.coldStart]: "true" } : {}),
          },
          dispatcher: this.dispatcher,
          headersTimeout: (st.spec.timeoutSeconds + 10) * 1000,
          bodyTimeout: (st.spec.timeoutSeconds + 10) * 1000,
        },
      );
    } catch (err) {
      if (notDelivered(err)) return "retry";
      throw new UpdraftError("InternalError", `forwarding to ${inst.ip} failed: ${String(err)}`, {
        cause: err,
      });
    }
    const payload = Buffer.from(await upstream.body.arrayBuffer());
    // Only the shim's own refusals are retried elsewhere; the function's 429/503 are answers.
    if (upstream.headers[SHIM_REFUSAL_HEADER] !== undefined)
      return upstream.statusCode === 429 ? "busy" : "retry";
    const webHeaders: Record<string, string | string[]> = {};
    for (const [k, v] of Object.entries(upstream.headers))
      if (v !== undefined && !HOP_BY_HOP_HEADERS.has(k)) webHeaders[k] = v;
    const ran = Number(upstream.headers[UpdraftHeaders.durationMs]);
    return {
      headers: {},
      webHeaders,
      status: upstream.statusCode,
      payload,
      functionError: upstream.headers[UpdraftHeaders.functionError] !== undefined,
      executionMs: Number.isFinite(ran) ? ran : performance.now() - sent,
    };
  }

  private count(ns: string, name: string, code: number): void {
    this.metrics.requests.inc({ namespace: ns, function: name, code: String(code) });
  }

  /** First step of a shutdown: see `draining`. */
  beginDrain(): void {
    this.draining = true;
  }

  /**
   * Last step of a shutdown, once the endpoints have dropped this activator: waits (at most
   * maxMs) until nothing is in flight and no request has arrived for `quietMs`, stops
   * accepting connections, and waits for the clients to close the connections they keep
   * idle (they do within the advertised keep-alive timeout). Only then are the rest closed
   * and new requests refused: closing a kept-alive connection ourselves races with a client
   * that is sending on it, and that client would get a reset instead of an answer.
   * Example: SIGTERM at t=0 → served with `Connection: close` until t≈5 s (propagation),
   * quiet at t≈5.5 s, the last idle connection closed by its client by t≈10 s.
   */
  async drain(maxMs: number, quietMs = 500): Promise<void> {
    this.draining = true;
    const deadline = Date.now() + maxMs;
    const sleep = () => new Promise((r) => setTimeout(r, 20));
    while (Date.now() < deadline && (this.inFlight > 0 || Date.now() - this.lastRequestAt < quietMs)) {
      await sleep();
    }
    // net.Server's close: stop accepting, but (unlike http.Server's) leave idle connections.
    if (this.server) NetServer.prototype.close.call(this.server);
    const idleDeadline = Math.min(deadline, Date.now() + (CLIENT_IDLE_HINT_SECONDS + 1) * 1000);
    while (Date.now() < idleDeadline && (this.sockets.size > 0 || this.inFlight > 0)) await sleep();
    this.closed = true;
    this.server?.closeIdleConnections();
    await this.dispatcher.close();
  }
}

function headerValue(req: IncomingMessage, name: string): string | undefined {
  const v = req.headers[name];
  return typeof v === "string" && v !== "" ? v : undefined;
}
