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
import { createServer as createHttpsServer, type Server as HttpsServer } from "node:https";
import { Server as NetServer, type Socket } from "node:net";
import { createSecureContext, type TLSSocket } from "node:tls";
import { Counter, Histogram, type Registry } from "prom-client";
import { Agent, type Dispatcher, request } from "undici";
import { API_VERSION } from "../api/v1alpha1.ts";
import { ASYNC_LIMIT_BYTES, type AsyncQueue, type EnqueueOptions } from "../async/queue.ts";
import type { AccessRequest, UserInfo } from "../lib/auth.ts";
import { UpdraftError } from "../lib/errors.ts";
import type { EventRecorder } from "../lib/events.ts";
import type { Logger } from "../lib/logger.ts";
import { AGGREGATED_PREFIX, AGGREGATED_RESOURCES, invokePathOf } from "../protocol/aggregated.ts";
import { INSTANCE_ANNOUNCE_PATH } from "../protocol/announce.ts";
import { edgeError, RETRY_AFTER_SECONDS } from "../protocol/errors.ts";
import { UpdraftHeaders } from "../protocol/headers.ts";
import { HOP_BY_HOP_HEADERS, keepIdleConnections, sendableResponseHeaders } from "../protocol/http.ts";
import { keyMatches } from "../protocol/instance-key.ts";
import openapi from "../protocol/openapi.json" with { type: "json" };
import {
  IDEMPOTENCY_KEY_PATTERN,
  InvokeHeaders,
  requestIdForKey,
  TRIGGER_SOURCE_PATTERN,
} from "../protocol/triggers.ts";
import type { CodeStore } from "./code-store.ts";
import {
  Forwarder,
  type ForwarderOptions,
  type Invocation,
  type InvokeOptions,
  type WebRequest,
} from "./forwarder.ts";
import { type FrontProxyTrust, frontProxyUser } from "./front-proxy.ts";
import { coldStartPhases, type FunctionMetrics } from "./function-metrics.ts";
import {
  apiGatewayEvent,
  HTTP_PREFIX,
  type HttpRoutes,
  httpAnswer,
  parseHttpHost,
  parseHttpUrl,
} from "./http-trigger.ts";
import type { InvocationLog } from "./kept-logs.ts";
import { servePackage, uploadPackage } from "./package-routes.ts";
import type { FunctionState, FunctionTable } from "./table.ts";

export const SYNC_LIMIT_BYTES = 6 * 1024 * 1024;
/** An instance announcement is four short strings. */
const ANNOUNCEMENT_LIMIT_BYTES = 4096;

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

/** SCF's codes as the invoke API's HTTP statuses (the edge's table: protocol/errors.ts). */
export function httpError(code: string): { status: number; scfCode: number } {
  const e = edgeError(code);
  return { status: e.sync, scfCode: e.scf };
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

/** The activator's invocation metrics, registered in `registry`. */
export function activatorMetrics(registry: Registry): ActivatorMetrics {
  return {
    requests: new Counter({
      name: "updraft_activator_requests_total",
      help: "Invocations by outcome",
      labelNames: ["namespace", "function", "code"],
      registers: [registry],
    }),
    duration: new Histogram({
      name: "updraft_activator_request_seconds",
      help: "Invocation latency through the activator",
      labelNames: ["namespace", "function"],
      buckets: [0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5, 30],
      registers: [registry],
    }),
  };
}

/** The idle time we ask clients to keep a connection at most (the Keep-Alive header). */
const CLIENT_IDLE_HINT_SECONDS = 5;

/** /v1/namespaces/{ns}/functions/{name}/invocations, a trailing slash and a query allowed. */
const INVOKE_ROUTE = /^\/v1\/namespaces\/([a-z0-9-]+)\/functions\/([a-z0-9-]+)\/invocations\/?(?:\?.*)?$/;

export class ActivatorServer {
  private readonly table: FunctionTable;
  private readonly routes: HttpRoutes;
  /** The async queue, once NATS is connected. */
  queue: AsyncQueue | undefined;
  /**
   * Who may call the invoke API (activator/auth.ts): asked before anything else about a
   * request, so a caller without the right cannot learn which functions exist. None: every
   * caller may (the chart's auth.mode None).
   */
  authorizer:
    | {
        authorize(authorization: string | undefined, request: AccessRequest): Promise<unknown>;
        authorizeUser(user: UserInfo, request: AccessRequest): Promise<unknown>;
      }
    | undefined;
  /** Users the API server named for requests that came through the aggregated API. */
  private readonly aggregatedUsers = new WeakMap<IncomingMessage, UserInfo>();
  private aggregated: HttpsServer | undefined;
  /**
   * Set (the chart's http.namespaceDomain): Http triggers are served at {namespace}.{domain}
   * only, and /http/{namespace}/… is 404 — a shared origin is what the hosts take away.
   */
  httpNamespaceDomain: string | undefined;
  /**
   * What relayed requests carry in x-updraft-relayed (protocol/instance-key.ts relayKey):
   * a request that claims to be relayed without it is taken as the caller's own. Unset (tests
   * without a master key): any value counts.
   */
  relayProof: string | undefined;
  /** Where invocations' logs are kept (set once NATS is connected); undefined: not kept. */
  keptLogs: InvocationLog | undefined;
  /** Where code packages are kept (the chart's codeStore); undefined: none are. */
  codeStore: CodeStore | undefined;
  /** A function's instance key (what its instances fetch packages with); undefined: no check (tests). */
  functionKey: ((namespace: string, name: string) => string) | undefined;
  /** Where cold starts are told as Events on their Function; undefined: not told. */
  events: EventRecorder | undefined;
  /** Per-function figures; undefined: not kept (tests). */
  functionMetrics: FunctionMetrics | undefined;
  /** Where starting instances' announcements go (activator/announce.ts); none: 404. */
  instances: { accept(body: Buffer, relayed: boolean): Promise<void> } | undefined;
  private readonly log: Logger;
  private readonly metrics: ActivatorMetrics;
  private readonly forwarder: Forwarder;
  /** The base URL of the activator that admits a function with concurrency.max, when not this one. */
  private readonly ownerUrl: (key: string) => string | undefined;
  private readonly relayAgent = new Agent({ keepAliveTimeout: 60_000, connections: 64 });
  private server: Server | undefined;
  /**
   * Set on SIGTERM (beginDrain): readiness fails, so the Service stops sending here, and
   * every answer carries `Connection: close`, so kept-alive clients reconnect to another
   * activator — while requests that still arrive (before every node has dropped this
   * endpoint) are served as usual, not refused.
   */
  draining = false;
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
    ownerUrl: (key: string) => string | undefined = () => undefined,
    forwarderOptions: ForwarderOptions = {},
  ) {
    this.ownerUrl = ownerUrl;
    this.limits = limits;
    this.bytes = new ByteBudget(limits.maxBufferedBytes);
    this.forwarder = new Forwarder(table, forwarderOptions);
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
    // connection a second before that), and reap idle ones ourselves only after
    // for proxies that ignore the hint (the API server's, 90 s).
    keepIdleConnections(this.server);
    return new Promise((resolve) => this.server!.listen(port, "0.0.0.0", () => resolve()));
  }

  /**
   * The invoke API as the API server's aggregated API (protocol/aggregated.ts), over TLS:
   * only a connection with the API server's front-proxy certificate is served, its request
   * mapped to the invoke API's path and authorized for the user the API server named
   * (SubjectAccessReview again: the API server checked RBAC for its own path, this checks
   * Updraft's verbs). GET of the group version answers the resource list the aggregator asks for.
   */
  listenAggregated(
    port: number,
    tls: { key: string; cert: string; clientCA: string; trust: FrontProxyTrust },
  ): Promise<void> {
    try {
      // Loaded once here only to say which certificate fails: OpenSSL alone says only
      // "asn1 encoding routines::…". (The server below builds its own context from the
      // same options; https.createServer takes no secureContext.)
      createSecureContext({ key: tls.key, cert: tls.cert, ca: tls.clientCA });
    } catch (err) {
      throw new Error(
        `the aggregated API's serving certificate or key does not load: restart the controller (kubectl -n <namespace> rollout restart deploy/updraft-controller), which makes them again: ${String(err)}`,
        { cause: err },
      );
    }
    this.aggregated = createHttpsServer(
      { key: tls.key, cert: tls.cert, ca: tls.clientCA, requestCert: true, rejectUnauthorized: false },
      (req, res) => {
        const socket = req.socket as TLSSocket;
        const peerCert = socket.getPeerCertificate();
        const peer =
          peerCert && Object.keys(peerCert).length > 0
            ? { verified: socket.authorized, commonName: peerCert.subject?.CN as string | undefined }
            : undefined;
        const who = frontProxyUser(
          peer,
          req.headersDistinct as Record<string, string[] | undefined>,
          tls.trust,
        );
        const requestId = randomUUID();
        if ("refused" in who) {
          req.resume();
          this.fail(res, requestId, new UpdraftError("Unauthenticated", who.refused));
          return;
        }
        const url = req.url ?? "/";
        if (req.method === "GET" && (url === AGGREGATED_PREFIX || url.startsWith(`${AGGREGATED_PREFIX}?`))) {
          req.resume();
          res
            .writeHead(200, { "content-type": "application/json" })
            .end(JSON.stringify(AGGREGATED_RESOURCES));
          return;
        }
        const path = invokePathOf(url);
        if (!path) {
          req.resume();
          this.fail(res, requestId, new UpdraftError("NotFound", `no such path: ${url.split("?")[0]}`));
          return;
        }
        req.url = path;
        this.aggregatedUsers.set(req, who.user);
        this.handle(req, res).catch((err: unknown) => {
          this.log.error("request failed", { err: String(err) });
          if (!res.headersSent)
            this.fail(res, "", new UpdraftError("InternalError", "internal error", { cause: err }));
        });
      },
    );
    keepIdleConnections(this.aggregated);
    return new Promise((resolve) => this.aggregated!.listen(port, "0.0.0.0", () => resolve()));
  }

  /**
   * Whether the caller may go on (authorizer above); if not, the request's body is left
   * unread and the answer is 401 (with `WWW-Authenticate: Bearer`), 403 or 503, coded.
   */
  private async allowed(
    req: IncomingMessage,
    res: ServerResponse,
    requestId: string,
    request: AccessRequest,
    http = false,
  ): Promise<boolean> {
    if (!this.authorizer) return true;
    try {
      const viaApiServer = this.aggregatedUsers.get(req);
      if (viaApiServer) await this.authorizer.authorizeUser(viaApiServer, request);
      else await this.authorizer.authorize(req.headers.authorization, request);
      return true;
    } catch (err) {
      req.resume();
      const e =
        err instanceof UpdraftError ? err : new UpdraftError("InternalError", String(err), { cause: err });
      if (e.code === "Unauthenticated") res.setHeader("WWW-Authenticate", 'Bearer realm="updraft"');
      if (e.code === "AuthUnavailable") this.log.warn("authorization unavailable", { err: String(e.cause) });
      if (http) this.failHttp(res, requestId, e);
      else this.fail(res, requestId, e);
      return false;
    }
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
    const domain = this.httpNamespaceDomain;
    const http = domain ? parseHttpHost(req.headers.host, url, domain) : parseHttpUrl(url);
    if (http) {
      await this.handleHttp(req, res, http);
      return;
    }
    if (domain && url.startsWith(HTTP_PREFIX)) {
      req.resume();
      this.failHttp(
        res,
        randomUUID(),
        new UpdraftError(
          "NotFound",
          `Http triggers are served at {namespace}.${domain}, not under ${HTTP_PREFIX}`,
        ),
      );
      return;
    }
    if (url === INSTANCE_ANNOUNCE_PATH && req.method === "POST") {
      await this.acceptAnnouncement(req, res);
      return;
    }
    if (url === OPENAPI_PATH && req.method === "GET") {
      req.resume();
      res.writeHead(200, { "Content-Type": "application/json" });
      res.end(OPENAPI_TEXT);
      return;
    }
    // The invoke API first: it is nearly every request, and this one pattern is all it pays.
    const m = INVOKE_ROUTE.exec(url);
    if (m && req.method === "POST") {
      await this.invokeRoute(req, res, m[1]!, m[2]!);
      return;
    }
    const rec = /^\/v1\/namespaces\/([a-z0-9-]+)\/invocations\/([A-Za-z0-9-]+)\/?$/.exec(url);
    if (rec && req.method === "GET") {
      if (!(await this.allowed(req, res, "", { namespace: rec[1]!, verb: "get", resource: "invocations" })))
        return;
      await this.getInvocation(res, rec[1]!, rec[2]!);
      return;
    }
    const list = /^\/v1\/namespaces\/([a-z0-9-]+)\/invocations\/?(\?.*)?$/.exec(url);
    if (list && req.method === "GET") {
      if (!(await this.allowed(req, res, "", { namespace: list[1]!, verb: "list", resource: "invocations" })))
        return;
      await this.listInvocations(res, list[1]!, new URLSearchParams(list[2]?.slice(1) ?? ""));
      return;
    }
    const pkgs = /^\/v1\/namespaces\/([a-z0-9-]+)\/packages(?:\/([a-f0-9]{64}))?\/?(\?.*)?$/.exec(url);
    if (pkgs && ((req.method === "POST" && !pkgs[2]) || (req.method === "GET" && pkgs[2]))) {
      const [, ns, sha, q] = pkgs as unknown as [string, string, string | undefined, string | undefined];
      const query = new URLSearchParams(q?.slice(1) ?? "");
      if (
        !sha &&
        !(await this.allowed(req, res, "", { namespace: ns, verb: "create", resource: "packages" }))
      )
        return;
      try {
        if (sha) await servePackage(req, res, ns, sha, query, this.codeStore, this.functionKey);
        else await uploadPackage(req, res, ns, query, this.codeStore);
      } catch (err) {
        req.resume();
        if (res.headersSent) res.destroy();
        else
          this.fail(
            res,
            "",
            err instanceof UpdraftError ? err : new UpdraftError("InternalError", String(err)),
          );
      }
      return;
    }
    const dl = /^\/v1\/namespaces\/([a-z0-9-]+)\/functions\/([a-z0-9-]+)\/dead-letters\/?$/.exec(url);
    if (dl && req.method === "POST") {
      const request = { namespace: dl[1]!, verb: "invoke", resource: "functions", name: dl[2]! } as const;
      if (!(await this.allowed(req, res, "", request))) return;
      await this.postDeadLetter(req, res, dl[1]!, dl[2]!);
      return;
    }
    req.resume();
    this.fail(res, "", new UpdraftError("NotFound", `no route for ${req.method} ${url}`));
  }

  /** POST /v1/namespaces/{ns}/functions/{name}/invocations: the invoke API. */
  private async invokeRoute(
    req: IncomingMessage,
    res: ServerResponse,
    ns: string,
    name: string,
  ): Promise<void> {
    if (!(await this.allowed(req, res, "", { namespace: ns, verb: "invoke", resource: "functions", name })))
      return;
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
    // Only a function with a concurrency.max is ever relayed (no await on the common path).
    if (
      st.spec.concurrency.max !== undefined &&
      (await this.relayToOwner(req, res, st, body, requestId, false))
    )
      return;
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
    const series = this.served(st);
    series.ok.inc();
    series.duration.observe((performance.now() - start) / 1000);
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

  /** A starting instance says where it is (activator/announce.ts): 202 once taken. */
  private async acceptAnnouncement(req: IncomingMessage, res: ServerResponse): Promise<void> {
    try {
      if (!this.instances) throw new UpdraftError("NotFound", "this activator takes no announcements");
      const body = await this.readBody(req, res, ANNOUNCEMENT_LIMIT_BYTES);
      await this.instances.accept(body, this.isRelayed(req));
      res.writeHead(202).end();
    } catch (err) {
      req.resume();
      this.fail(res, "", err instanceof UpdraftError ? err : new UpdraftError("InternalError", String(err)));
    }
  }

  /**
   * GET /v1/namespaces/{ns}/invocations?function=F[&requestId=][&sinceSeconds=][&limit=]:
   * F's kept invocations and their logs (protocol/kept-logs.ts), oldest first.
   */
  private async listInvocations(res: ServerResponse, ns: string, q: URLSearchParams): Promise<void> {
    try {
      const fn = q.get("function") ?? "";
      const requestId = q.get("requestId") ?? undefined;
      const sinceSeconds = Number(q.get("sinceSeconds") ?? 86_400);
      const limit = Number(q.get("limit") ?? 100);
      if (
        !/^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/.test(fn) ||
        (requestId !== undefined && !/^[A-Za-z0-9-]{1,128}$/.test(requestId)) ||
        !(Number.isInteger(sinceSeconds) && sinceSeconds > 0) ||
        !(Number.isInteger(limit) && limit > 0)
      )
        throw new UpdraftError(
          "InvalidParameter",
          "function (a Function's name) is required; requestId, sinceSeconds and limit (positive integers) are optional",
        );
      if (!this.keptLogs)
        throw new UpdraftError(
          "QueueUnavailable",
          "invocation logs are not kept here (or NATS is not connected yet)",
        );
      const items = await this.keptLogs.list(ns, fn, {
        ...(requestId ? { requestId } : {}),
        sinceSeconds,
        limit,
      });
      res.writeHead(200, { "Content-Type": "application/json" });
      res.end(JSON.stringify({ items }));
    } catch (err) {
      this.fail(res, "", err instanceof UpdraftError ? err : new UpdraftError("InternalError", String(err)));
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
    if (route.auth === "Kubernetes") {
      const request = {
        namespace: route.namespace,
        verb: "invoke",
        resource: "functions",
        name: route.function,
      } as const;
      if (!(await this.allowed(req, res, requestId, request, true))) return;
    }
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
    if (await this.relayToOwner(req, res, st, raw, requestId, true)) return;
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
      m.pathParameters,
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
    // A function's headers reach the caller only when they are safe to send (no CR/LF, no
    // hop-by-hop): one that fails Node's check would otherwise fail the whole answer.
    const { headers } = sendableResponseHeaders(answer.headers);
    res.writeHead(answer.status, { ...headers, [UpdraftHeaders.requestId]: requestId });
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
    const { headers } = sendableResponseHeaders(result.webHeaders ?? {});
    res.writeHead(status, { ...headers, [UpdraftHeaders.requestId]: requestId });
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

  /** Runs an event on an instance (the Forwarder): what the async dispatcher calls too. */
  async invoke(
    st: FunctionState,
    body: Buffer,
    requestId: string,
    opts: InvokeOptions = {},
  ): Promise<Invocation> {
    // A kept log needs the instance's log result; the caller gets it only if it asked too.
    // (Web functions answer HTTP, with no SCF log of their own: their pods' logs are theirs.)
    const keepLog = this.keptLogs !== undefined && !opts.web;
    let r: Invocation;
    try {
      r = await this.forwarder.invoke(st, body, requestId, keepLog ? { ...opts, logType: "Tail" } : opts);
    } catch (err) {
      const e = err instanceof UpdraftError ? err : new UpdraftError("InternalError", String(err));
      this.observedSafely(st, requestId, opts, { error: e });
      throw err;
    }
    const logResult = r.headers[UpdraftHeaders.logResult];
    const log = logResult ? Buffer.from(logResult, "base64").toString() : "";
    this.observedSafely(st, requestId, opts, { answer: r, log });
    if (!keepLog || opts.logType !== undefined || logResult === undefined) return r;
    const headers = { ...r.headers };
    delete headers[UpdraftHeaders.logResult];
    return { ...r, headers };
  }

  /** observed(), whose failure is logged: an answer never fails for its bookkeeping. */
  private observedSafely(...args: Parameters<ActivatorServer["observed"]>): void {
    try {
      this.observed(...args);
    } catch (err) {
      this.log.warn("recording an invocation failed", { function: args[0].key, err: String(err) });
    }
  }

  /**
   * What an invocation tells, once it ended: its figures (function-metrics.ts), its kept
   * log (kept-logs.ts), and an Event on its Function when it came from a cold start.
   */
  private observed(
    st: FunctionState,
    requestId: string,
    opts: InvokeOptions,
    end: { answer: Invocation; log: string } | { error: UpdraftError },
  ): void {
    const [namespace, fn] = st.key.split("/") as [string, string];
    const async = opts.async === true;
    // What every kept entry of it says, whatever the outcome.
    const entry = { requestId, namespace, function: fn, async, time: new Date().toISOString() };
    if ("error" in end) {
      const code = edgeError(end.error.code).scf;
      const throttled = THROTTLES.has(end.error.code);
      this.functionMetrics?.observe({
        namespace,
        function: fn,
        outcome: throttled ? "throttled" : "platform_error",
        code,
        async,
      });
      if (!opts.web)
        this.keptLogs?.keep({
          ...entry,
          outcome: "PlatformError",
          errorCode: code,
          coldStart: false,
          log: `ERROR RequestId:${requestId} Result:${end.error.code}: ${end.error.message}\n`,
        });
      return;
    }
    const r = end.answer;
    const functionCode = Number(r.headers[UpdraftHeaders.functionError]);
    const code = r.functionError ? (Number.isFinite(functionCode) ? functionCode : 430) : 200;
    const init = r.headers[UpdraftHeaders.initDurationMs];
    const phases = init !== undefined ? coldStartPhases(end.log) : undefined;
    const billed = Number(r.headers[UpdraftHeaders.billedDurationMs]);
    this.functionMetrics?.observe({
      namespace,
      function: fn,
      outcome: r.functionError ? "function_error" : "success",
      code,
      async,
      ...(Number.isFinite(r.executionMs) ? { executionSeconds: r.executionMs / 1000 } : {}),
      ...(Number.isFinite(billed) ? { billedMs: billed, memoryMB: st.spec.memoryMB } : {}),
      ...(init !== undefined && Number.isFinite(Number(init))
        ? { coldStart: { totalSeconds: Number(init) / 1000, ...phases } }
        : {}),
    });
    if (!opts.web)
      this.keptLogs?.keep({
        ...entry,
        outcome: r.functionError ? "FunctionError" : "Succeeded",
        ...(r.functionError ? { errorCode: code } : {}),
        durationMs: r.executionMs,
        coldStart: init !== undefined,
        log: end.log,
      });
    if (init !== undefined && this.events && st.uid)
      this.events.record(
        { apiVersion: API_VERSION, kind: "Function", metadata: { name: fn, namespace, uid: st.uid } },
        "Normal",
        "ColdStart",
        coldStartMessage(requestId, Number(init), end.log),
      );
  }

  /** Whether another activator sent this on (it shows the relay key). */
  private isRelayed(req: IncomingMessage): boolean {
    const presented = req.headers[UpdraftHeaders.relayed];
    if (presented === undefined) return false;
    return this.relayProof === undefined || keyMatches(presented, this.relayProof);
  }

  /**
   * A function with a concurrency.max is admitted by one activator, its owner (ownerOf):
   * another replica sends the request on to it, once (a relayed request is served where it
   * lands), and answers with what the owner answered. True when it was sent on. If the
   * owner cannot be reached the caller gets 503 OwnerUnavailable, with Retry-After: by
   * then the replicas learn that it went, and the next owner takes the function.
   */
  private async relayToOwner(
    req: IncomingMessage,
    res: ServerResponse,
    st: FunctionState,
    body: Buffer,
    requestId: string,
    http: boolean,
  ): Promise<boolean> {
    if (st.spec.concurrency.max === undefined || this.isRelayed(req)) return false;
    const owner = this.ownerUrl(st.key);
    if (owner === undefined) return false;
    const headers: Record<string, string | string[]> = {};
    // (Not content-length: an empty event was made "{}" here; nor host, but see below.)
    for (const [k, v] of Object.entries(req.headers))
      if (v !== undefined && !HOP_BY_HOP_HEADERS.has(k)) headers[k] = v;
    headers[UpdraftHeaders.relayed] = this.relayProof ?? "true";
    // An Http trigger at a namespace's host is found by its Host: the owner needs it too.
    if (http && this.httpNamespaceDomain && req.headers.host) headers.host = req.headers.host;
    let upstream: Dispatcher.ResponseData;
    try {
      upstream = await request(`${owner}${req.url ?? "/"}`, {
        method: (req.method ?? "POST") as "POST",
        body: req.method === "GET" || req.method === "HEAD" ? null : body,
        headers,
        dispatcher: this.relayAgent,
        headersTimeout: (st.spec.initTimeoutSeconds + st.spec.timeoutSeconds + 30) * 1000,
        bodyTimeout: (st.spec.initTimeoutSeconds + st.spec.timeoutSeconds + 30) * 1000,
      });
    } catch (err) {
      const e = new UpdraftError("OwnerUnavailable", `the activator that admits ${st.key} is unreachable`, {
        cause: err,
      });
      if (http) this.failHttp(res, requestId, e);
      else this.fail(res, requestId, e);
      return true;
    }
    const answer: Record<string, string | string[]> = {};
    for (const [k, v] of Object.entries(upstream.headers))
      if (v !== undefined && !HOP_BY_HOP_HEADERS.has(k)) answer[k] = v;
    res.writeHead(upstream.statusCode, answer);
    res.end(Buffer.from(await upstream.body.arrayBuffer()));
    return true;
  }

  /**
   * A function's labelled series for answered calls, looked up once per function rather
   * than hashing its labels on every request. Example: the 10,000th call of ns/fn reuses
   * the children its first call made.
   */
  private served(st: FunctionState): { ok: { inc(): void }; duration: { observe(v: number): void } } {
    let m = this.servedMetrics.get(st);
    if (!m) {
      const [namespace, fn] = st.key.split("/") as [string, string];
      m = {
        ok: this.metrics.requests.labels({ namespace, function: fn, code: "200" }),
        duration: this.metrics.duration.labels({ namespace, function: fn }),
      };
      this.servedMetrics.set(st, m);
    }
    return m;
  }

  private readonly servedMetrics = new WeakMap<
    FunctionState,
    { ok: { inc(): void }; duration: { observe(v: number): void } }
  >();

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
    while (
      Date.now() < deadline &&
      (this.forwarder.inFlight > 0 || Date.now() - this.lastRequestAt < quietMs)
    ) {
      await sleep();
    }
    // net.Server's close: stop accepting, but (unlike http.Server's) leave idle connections.
    if (this.server) NetServer.prototype.close.call(this.server);
    const idleDeadline = Math.min(deadline, Date.now() + (CLIENT_IDLE_HINT_SECONDS + 1) * 1000);
    while (Date.now() < idleDeadline && (this.sockets.size > 0 || this.forwarder.inFlight > 0)) await sleep();
    this.server?.closeIdleConnections();
    // The API server's connections: it reconnects to another activator.
    this.aggregated?.close();
    this.aggregated?.closeIdleConnections();
    await this.forwarder.close();
    await this.relayAgent.close();
  }
}

function headerValue(req: IncomingMessage, name: string): string | undefined {
  const v = req.headers[name];
  return typeof v === "string" && v !== "" ? v : undefined;
}

/**
 * A cold start as its Event says it, with SCF's phases when the Init Report line is in the
 * log. Example: "request 1c2… waited for a new instance: 236 ms (PullCode 70 ms, InitRuntime
 * 8 ms, InitFunction 158 ms)".
 */
export function coldStartMessage(requestId: string, initMs: number, log: string): string {
  const p = coldStartPhases(log);
  const ms = (s: number) => Math.round(s * 1000);
  const phases = p
    ? ` (PullCode ${ms(p.pullCode)} ms, InitRuntime ${ms(p.initRuntime)} ms, InitFunction ${ms(p.initFunction)} ms)`
    : "";
  return `request ${requestId} waited for a new instance: ${initMs} ms${phases}`;
}

/** Refusals that are throttling — over a limit, not a fault: counted as "throttled". */
const THROTTLES: ReadonlySet<string> = new Set(["ConcurrencyLimit", "QueueFull", "ActivatorOverloaded"]);

/** The invoke API as OpenAPI 3.1 (protocol/openapi.json), served to anyone: it is documentation. */
export const OPENAPI_PATH = "/openapi.json";
const OPENAPI_TEXT = JSON.stringify(openapi);
