/**
 * The forwarder: owns a request's way to an instance — admission against
 * concurrency.max, a slot on an instance within perInstance (waiting through a cold start
 * if need be), the forward to the instance's runtime shim, and sending it again when it
 * provably did not run there (instance gone, draining, or at capacity). The invoke API,
 * Http triggers and the async dispatcher all run events through it; it throws coded
 * UpdraftErrors, which only the edge (server.ts) turns into statuses.
 */
import type { IncomingHttpHeaders, IncomingMessage } from "node:http";
import { Agent, type Dispatcher } from "undici";
import { UpdraftError } from "../lib/errors.ts";
import { HEADER_PREFIX, UpdraftHeaders } from "../protocol/headers.ts";
import { ANSWER_LIMIT_BYTES, HOP_BY_HOP_HEADERS, INVOKE_BODY_LIMIT_BYTES } from "../protocol/http.ts";
import type { ChannelCall } from "../protocol/instance-channel.ts";
import { INSTANCE_KEY_HEADER } from "../protocol/instance-key.ts";
import { InstanceHeaders, SHIM_REFUSAL_HEADER, WEB_PATH_PREFIX } from "../protocol/triggers.ts";
import type { Instance } from "./capacity.ts";
import { InstanceChannel } from "./instance-channel.ts";
import { type FunctionState, type FunctionTable, notReadyError, type Slot } from "./table.ts";

/** How long an instance whose channel could not be reached is called over HTTP only. */
const NO_CHANNEL_RETRY_MS = 60_000;

/** The runtime shim's port on every function instance. */
export const INSTANCE_PORT = 8080;

/** The shim's answer headers the caller gets. */
const FORWARDED_HEADERS: readonly string[] = [
  UpdraftHeaders.durationMs,
  UpdraftHeaders.billedDurationMs,
  UpdraftHeaders.initDurationMs,
  UpdraftHeaders.functionError,
  UpdraftHeaders.logResult,
];

/** An instance's answer, read whole. */
export interface InstanceAnswer {
  statusCode: number;
  headers: IncomingHttpHeaders;
  body: Buffer;
}

/**
 * Sends one request to an instance and reads its whole answer, up to ANSWER_LIMIT_BYTES:
 * past it the request is aborted (the connection dropped) and the call fails
 * ResultTooLarge — whatever an instance sends, it holds at most that much of the
 * activator's memory per call. It drives undici's dispatcher with a handler of its own
 * rather than `request()`, which makes a response stream per call and reads it by async
 * iteration: for answers of a few hundred bytes those were most of the client side's work.
 * Informational answers (1xx) are skipped, as `request()` skips them.
 */
export function exchange(
  dispatcher: Dispatcher,
  opts: Dispatcher.DispatchOptions,
  ip: string,
): Promise<InstanceAnswer> {
  return new Promise((resolve, reject) => {
    let statusCode = 0;
    let headers: IncomingHttpHeaders = {};
    const chunks: Buffer[] = [];
    let size = 0;
    let tooLarge: UpdraftError | undefined;
    dispatcher.dispatch(opts, {
      onRequestStart() {},
      onResponseStart(_controller, status, h) {
        if (status < 200) return;
        statusCode = status;
        headers = h;
      },
      onResponseData(controller, chunk) {
        if (statusCode === 0) return; // an informational answer's body: there is none
        size += chunk.length;
        if (size > ANSWER_LIMIT_BYTES) {
          tooLarge ??= new UpdraftError(
            "ResultTooLarge",
            `the instance at ${ip} answered more than ${ANSWER_LIMIT_BYTES} bytes (SCF's result limit is 6 MB)`,
          );
          controller.abort(tooLarge);
          return;
        }
        chunks.push(chunk);
      },
      onResponseEnd() {
        if (statusCode === 0) return;
        resolve({
          statusCode,
          headers,
          body: chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks, size),
        });
      },
      onResponseError(_controller, err) {
        if (tooLarge) return reject(tooLarge);
        // Broken off after its answer began: the function ran, so this is never "not
        // delivered" (which would send it again), whatever the socket's error says.
        if (statusCode !== 0)
          return reject(
            new UpdraftError("InternalError", `the instance at ${ip} broke off its answer: ${String(err)}`, {
              cause: err,
            }),
          );
        reject(err);
      },
    });
  });
}

/** A call's X-Updraft-* headers for POST /invoke (the channel carries them as its meta). */
export function httpHeadersOf(call: ChannelCall, keyHeader: Record<string, string>): Record<string, string> {
  const headers: Record<string, string> = {
    "content-type": "application/json",
    [UpdraftHeaders.requestId]: call.requestId,
    ...keyHeader,
  };
  if (call.cold) headers[UpdraftHeaders.coldStart] = "true";
  if (call.logType) headers[UpdraftHeaders.logType] = call.logType;
  if (call.triggerSource) headers[InstanceHeaders.triggerSource] = call.triggerSource;
  if (call.async) {
    headers[UpdraftHeaders.async] = "true";
    headers[UpdraftHeaders.attempt] = String(call.attempt ?? 1);
  }
  return headers;
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

/** An Http trigger's raw request, for a Web function. */
export interface WebRequest {
  method: string;
  path: string;
  query: string;
  headers: IncomingMessage["headers"];
  body: Buffer;
}

/** A function's answer from its instance. */
export interface Invocation {
  /** The X-Updraft-* headers the caller gets. */
  headers: Record<string, string>;
  /** Web functions: their server's status and headers. */
  status?: number;
  webHeaders?: Record<string, string | string[]>;
  payload: Buffer;
  functionError: boolean;
  executionMs: number;
}

export type Outcome = Invocation | "retry" | "busy";

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

export interface ForwarderOptions {
  /** The instances' shim port (INSTANCE_PORT; a test's shim on port 0 has its own). */
  port?: number;
  /** The clock (ms) the wait for an instance is measured on. */
  now?: () => number;
  /**
   * The key a function's instances take calls with (protocol/instance-key.ts), by function
   * key "ns/name"; absent: none is sent (instances that check none, in tests).
   */
  instanceKey?: (functionKey: string) => string;
  /**
   * The instances' channel port (INSTANCE_CHANNEL_PORT; a test's shim has its own):
   * Event-function calls go on the instance channel. Absent: every call goes over HTTP.
   */
  channelPort?: number;
}

export class Forwarder {
  private readonly table: FunctionTable;
  private readonly port: number;
  private readonly now: () => number;
  // Connections to instances are kept alive (undici's default pipelining of 1: one request
  // at a time on each). `pipelining: 0` would close every connection after one request — a
  // TCP connect and teardown per forward, which is what this hop cost until 2026-12-01.
  private readonly agent = new Agent({ keepAliveTimeout: 60_000, connections: 256 });
  /** Events on their way or running: a drain waits for them. */
  inFlight = 0;
  /** Set by close(): new events are refused with a coded error. */
  private closed = false;

  private readonly instanceKey: ((functionKey: string) => string) | undefined;
  /** Each function's key, derived once (an HMAC) rather than per call. */
  private readonly keys = new Map<string, string>();
  private readonly channelPort: number | undefined;
  /** The open instance channels, closed by close(). */
  private readonly channels = new Set<InstanceChannel>();

  constructor(table: FunctionTable, opts: ForwarderOptions = {}) {
    this.table = table;
    this.port = opts.port ?? INSTANCE_PORT;
    this.now = opts.now ?? Date.now;
    this.instanceKey = opts.instanceKey;
    this.channelPort = opts.channelPort;
    // An instance the table let go gets no new call on its channel, which ends once the
    // calls on it are answered instead of a minute later (calls that took their slot before
    // it left go over HTTP: channelTo).
    table.onInstanceGone((inst) => void inst.channel?.retire());
  }

  /** The key for a function's instances, or none. */
  private keyOf(st: FunctionState): string | undefined {
    if (!this.instanceKey) return undefined;
    let key = this.keys.get(st.key);
    if (key === undefined) {
      key = this.instanceKey(st.key);
      this.keys.set(st.key, key);
    }
    return key;
  }

  /** The instance-key header for a function's instances, or none. */
  private keyHeader(st: FunctionState): Record<string, string> {
    const key = this.keyOf(st);
    return key === undefined ? {} : { [INSTANCE_KEY_HEADER]: key };
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
    if (st.unservable && st.instances.length === 0) throw notReadyError(st.key, st.unservable);
    // Bounded wait: long enough for an instance to start and initialise.
    const deadline = this.now() + (st.spec.initTimeoutSeconds + st.spec.timeoutSeconds) * 1000;
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
        const slot: Slot = await this.table.acquire(st, Math.max(1, deadline - this.now()), again);
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
    const sent = performance.now();
    const call: ChannelCall = { requestId };
    if (cold) call.cold = true;
    if (opts.logType) call.logType = opts.logType;
    if (opts.triggerSource) call.triggerSource = opts.triggerSource;
    if (opts.async) {
      call.async = true;
      call.attempt = opts.attempt ?? 1;
    }
    const upstream = await this.sendCall(st, inst, call, body);
    if (upstream === "retry") return "retry";
    const payload = upstream.body;
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
    const sent = performance.now();
    const headers: Record<string, string | string[]> = {};
    for (const [k, v] of Object.entries(web.headers))
      if (v !== undefined && !HOP_BY_HOP_HEADERS.has(k) && !k.startsWith(HEADER_PREFIX)) headers[k] = v;
    const upstream = await this.send(st, inst, {
      path: `${WEB_PATH_PREFIX}${web.path}${web.query ? `?${web.query}` : ""}`,
      method: web.method as "GET",
      body: web.method === "GET" || web.method === "HEAD" ? null : body,
      headers: {
        ...headers,
        [UpdraftHeaders.requestId]: requestId,
        ...this.keyHeader(st),
        ...(cold ? { [UpdraftHeaders.coldStart]: "true" } : {}),
      },
    });
    if (upstream === "retry") return "retry";
    const payload = upstream.body;
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

  /**
   * One call to an instance, on its channel when it has one, else as POST /invoke: the
   * answer, or "retry" when it provably never got there. Throws coded otherwise.
   */
  private async sendCall(
    st: FunctionState,
    inst: Instance,
    call: ChannelCall,
    body: Buffer,
  ): Promise<InstanceAnswer | "retry"> {
    // An event over the instance's limit goes over HTTP, where the shim refuses that call
    // alone (413); on the channel it would end the connection, and the calls sharing it.
    const channel = body.length <= INVOKE_BODY_LIMIT_BYTES ? this.channelTo(st, inst) : undefined;
    if (channel) {
      const outcome = await channel.call(call, body, (st.spec.timeoutSeconds + 10) * 1000);
      if (outcome !== "refused") return outcome;
    }
    // No channel there: the instance is gone (its HTTP port fails too: "retry"), or it has
    // none — older than the channel, or 8081 not let in — and takes calls over HTTP, for a
    // minute before the channel is tried again.
    const answer = await this.send(st, inst, {
      path: "/invoke",
      method: "POST",
      body,
      headers: httpHeadersOf(call, this.keyHeader(st)),
    });
    if (channel && answer !== "retry") inst.noChannelUntil = this.now() + NO_CHANNEL_RETRY_MS;
    return answer;
  }

  /** The instance's channel (opened now if it has none open), or undefined: HTTP only. */
  private channelTo(st: FunctionState, inst: Instance): InstanceChannel | undefined {
    if (this.channelPort === undefined || this.closed) return undefined;
    if (inst.noChannelUntil !== undefined && this.now() < inst.noChannelUntil) return undefined;
    // A call that took its slot before the instance left goes over HTTP: a channel opened
    // now would be one no table event ever retires.
    if (inst.left) return undefined;
    if (inst.channel?.usable) return inst.channel;
    const channel: InstanceChannel = new InstanceChannel(inst.ip, this.channelPort, this.keyOf(st), () => {
      if (inst.channel === channel) inst.channel = undefined;
    });
    void channel.closed.then(() => this.channels.delete(channel));
    this.channels.add(channel);
    inst.channel = channel;
    return channel;
  }

  /**
   * One request to an instance, with the function's time-out and then some for its answer:
   * the answer, or "retry" when it provably never got there. Throws coded otherwise.
   */
  private async send(
    st: FunctionState,
    inst: Instance,
    request: Pick<Dispatcher.DispatchOptions, "path" | "method" | "body" | "headers">,
  ): Promise<InstanceAnswer | "retry"> {
    const waitMs = (st.spec.timeoutSeconds + 10) * 1000;
    try {
      return await exchange(
        this.agent,
        { ...request, origin: this.origin(inst), headersTimeout: waitMs, bodyTimeout: waitMs },
        inst.ip,
      );
    } catch (err) {
      if (err instanceof UpdraftError) throw err;
      if (notDelivered(err)) return "retry";
      throw new UpdraftError("InternalError", `forwarding to ${inst.ip} failed: ${String(err)}`, {
        cause: err,
      });
    }
  }

  /** An instance's origin, made once per instance (it is on every request's path). */
  private origin(inst: Instance): string {
    inst.origin ??= `http://${inst.ip}:${this.port}`;
    return inst.origin;
  }

  /** Refuses new events and closes the connections to instances. */
  async close(): Promise<void> {
    this.closed = true;
    // Calls still on a channel are answered first, as the HTTP agent lets its requests end.
    await Promise.all([...[...this.channels].map((c) => c.retire()), this.agent.close()]);
  }
}
