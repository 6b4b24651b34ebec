/**
 * The async dispatcher, in every activator replica (docs/async.md: the activator is the async
 * queue consumer): per function, one durable pull consumer shared by the replicas. Each
 * event runs through the same path as a sync call (admission, a slot on an instance,
 * cold start), and its message is acknowledged only once the outcome is final: success,
 * or the dead letter written. Retries are negative acknowledgements with a delay, so a
 * restart of any activator or of nats-server loses nothing: unacknowledged events come
 * back after ack_wait.
 *
 * docs/async.md has the why of each choice.
 */
import { randomUUID } from "node:crypto";
import type { ConsumerMessages, JsMsg } from "@nats-io/jetstream";
import type { ResolvedFunctionSpec } from "../api/v1alpha1.ts";
import { UpdraftError } from "../lib/errors.ts";
import type { Logger } from "../lib/logger.ts";
import { edgeError } from "../protocol/errors.ts";
import type { AsyncFigures } from "./metrics.ts";
import { type AttemptOutcome, afterAttempt, isExpired, type RetryPolicy } from "./policy.ts";
import {
  type AsyncQueue,
  ENQUEUED_AT_HEADER,
  type InvocationRecord,
  STREAM,
  TRIGGER_SOURCE_HEADER,
} from "./queue.ts";

/** What the dispatcher knows of a function: its key ("namespace/name") and resolved spec. */
export interface AsyncFunction {
  key: string;
  spec: ResolvedFunctionSpec;
}

/**
 * Runs an event as a sync call would (the activator's server does), on the function the
 * dispatcher was given (F: the activator's own state of it, passed back as it came).
 */
export interface Invoker<F extends AsyncFunction = AsyncFunction> {
  invoke(
    st: F,
    body: Buffer,
    requestId: string,
    opts: {
      async?: boolean;
      attempt?: number;
      preferInstance?: string;
      triggerSource?: string;
      beforeForward?: (ip: string) => Promise<void>;
    },
  ): Promise<{ payload: Buffer; functionError: boolean; executionMs: number }>;
}

export interface DispatcherConfig {
  userRetryDelaysMs: readonly number[];
  platformBackoffBaseMs: number;
  platformBackoffMaxMs: number;
  /** Messages each replica holds per function beyond those running. */
  prefetch: number;
}

/** SCF's errorCode of a platform refusal, from the edge's one table. */
const platformCode = (code: string): number => edgeError(code).scf;

const ACK_WAIT_MS = 30_000;

const TERMINAL = new Set(["Succeeded", "Failed", "DeadLettered"]);

export class Dispatcher<F extends AsyncFunction = AsyncFunction> {
  private readonly queue: AsyncQueue;
  private readonly invoker: Invoker<F>;
  private readonly cfg: DispatcherConfig;
  private readonly log: Logger;
  private readonly now: () => number;
  private readonly running = new Map<string, { messages?: ConsumerMessages; stopped: boolean }>();
  private inFlight = 0;
  /** Where retries and failures are counted; undefined: not counted. */
  figures: AsyncFigures | undefined;

  constructor(queue: AsyncQueue, invoker: Invoker<F>, cfg: DispatcherConfig, log: Logger, now = Date.now) {
    this.queue = queue;
    this.invoker = invoker;
    this.cfg = cfg;
    this.log = log;
    this.now = now;
  }

  /**
   * Once, at start: drops the queues of functions deleted while no dispatcher was running
   * (their consumers are named fn_{namespace}_{function}; names have no "_").
   */
  async sweep(functions: Iterable<F>): Promise<void> {
    const known = new Set([...functions].map((st) => st.key));
    for (const c of await this.queue.consumerNames()) {
      const m = /^fn_([a-z0-9-]+)_([a-z0-9-]+)$/.exec(c);
      if (!m || known.has(`${m[1]}/${m[2]}`)) continue;
      await this.queue.forget(m[1]!, m[2]!);
      this.log.info("dropped the queue of a deleted function", { function: `${m[1]}/${m[2]}` });
    }
  }

  /** Consumes for the functions that exist (Web functions take no events), stops for the rest. */
  /**
   * Consumes the events of `functions` and no others. `consumes` picks those this replica
   * runs (another replica may own a function with concurrency.max); a function that is
   * in `functions` but not picked only stops being consumed here, while one that is gone
   * from `functions` altogether is deleted, and its waiting events with it.
   */
  sync(functions: Iterable<F>, consumes: (st: F) => boolean = () => true): void {
    const exists = new Set<string>();
    const wanted = new Set<string>();
    for (const st of functions) {
      exists.add(st.key);
      if (st.spec.type === "Web" || !consumes(st)) continue;
      wanted.add(st.key);
      if (!this.running.has(st.key)) {
        const handle: { messages?: ConsumerMessages; stopped: boolean } = { stopped: false };
        this.running.set(st.key, handle);
        void this.consume(st, handle);
      }
    }
    for (const [key, handle] of this.running) {
      if (wanted.has(key)) continue;
      handle.stopped = true;
      void handle.messages?.close();
      this.running.delete(key);
      if (exists.has(key)) continue; // still there: another replica consumes it
      // The function is gone: its waiting events can never run. Drop them and its consumer
      // (every replica tries; the second finds nothing). Their records stay until the TTL.
      const [namespace, name] = key.split("/") as [string, string];
      void this.queue
        .forget(namespace, name)
        .catch((err: unknown) =>
          this.log.warn("dropping a deleted function's queue failed", { function: key, err: String(err) }),
        );
    }
  }

  private async consume(st: F, handle: { messages?: ConsumerMessages; stopped: boolean }) {
    const [namespace, name] = st.key.split("/") as [string, string];
    let backoff = 500;
    while (!handle.stopped) {
      try {
        // working() every 10 s keeps an event that waits or runs long; an event whose
        // dispatcher died comes back 30 s later.
        const ackWaitMs = ACK_WAIT_MS;
        const maxAckPending = Math.max(1, st.spec.concurrency.max ?? 1000) + this.cfg.prefetch;
        const durable = await this.queue.ensureConsumer(namespace, name, ackWaitMs, maxAckPending);
        const consumer = await this.queue.js.consumers.get(STREAM, durable);
        const messages = await consumer.consume({ max_messages: this.cfg.prefetch });
        handle.messages = messages;
        if (handle.stopped) await messages.close();
        backoff = 500;
        for await (const m of messages) {
          void this.process(st, m).catch((err: unknown) => {
            // The message was neither acked nor nakked: it comes back after ack_wait.
            this.log.error("async event handling failed", { function: st.key, err: String(err) });
          });
        }
      } catch (err) {
        if (handle.stopped) break;
        this.log.warn("async consumer failed; restarting", { function: st.key, err: String(err) });
      }
      if (handle.stopped) break;
      await new Promise((r) => setTimeout(r, backoff));
      backoff = Math.min(10_000, backoff * 2);
    }
  }

  /** One delivery of one event, to its final state or a delayed retry. */
  async process(st: F, m: JsMsg): Promise<void> {
    const [namespace, name] = st.key.split("/") as [string, string];
    const requestId = m.headers?.get("Nats-Msg-Id") || randomUUID();
    const enqueuedAt =
      Number(m.headers?.get(ENQUEUED_AT_HEADER)) ||
      Number(BigInt(m.info.timestampNanos) / 1_000_000n) ||
      this.now();
    const policy: RetryPolicy = {
      retryAttempts: st.spec.async.retryAttempts,
      maxEventAgeMs: st.spec.async.maxEventAgeSeconds * 1000,
      userRetryDelaysMs: this.cfg.userRetryDelaysMs,
      platformBackoffBaseMs: this.cfg.platformBackoffBaseMs,
      platformBackoffMaxMs: this.cfg.platformBackoffMaxMs,
    };
    // A first delivery needs no read: its record is the Queued one written before the event
    // was published (enqueue). Only a redelivery (a planned retry, or a dispatcher that died
    // or lost its ack) may find the record moved on, Running or final.
    const firstDelivery = m.info.deliveryCount <= 1;
    const stored = firstDelivery ? undefined : await this.queue.getRecord(namespace, requestId);
    let rec: InvocationRecord = stored ?? {
      requestId,
      namespace,
      function: name,
      status: "Queued",
      attempts: 0,
      userErrors: 0,
      platformErrors: 0,
      enqueuedAt: new Date(enqueuedAt).toISOString(),
    };
    // Delivered again after its outcome was written (the ack was lost): nothing to run.
    if (TERMINAL.has(rec.status)) {
      m.ack();
      return;
    }
    if (isExpired(enqueuedAt, this.now(), policy)) {
      await this.deadLetter(st, rec, m, "EventExpired");
      return;
    }
    // Running already: the dispatcher of this attempt died (or lost its ack) mid-way. The
    // same attempt goes on, on the instance it was sent to, which answers with its run.
    const repeat = rec.status === "Running";
    const triggerSource = m.headers?.get(TRIGGER_SOURCE_HEADER) || undefined;
    const previous = repeat ? rec.instance : undefined;
    if (!repeat) {
      // Running is written once, with the instance, just before the event is sent to it
      // (beforeForward): one record write where there were two. Until then — while it
      // waits for a cold start — the record says what it was (Queued, or Retrying).
      rec = {
        ...rec,
        status: "Running",
        attempts: rec.attempts + 1,
        startedAt: new Date(this.now()).toISOString(),
      };
      delete rec.instance;
      delete rec.nextAttemptAt;
    }

    this.inFlight++;
    const keepAlive = setInterval(() => m.working(), 10_000);
    let outcome: AttemptOutcome;
    try {
      // A delivery after a crash goes to the instance the last one was sent to: if it ran
      // (or runs) there, that instance answers with that run, and it does not run twice.
      const r = await this.invoker.invoke(st, Buffer.from(m.data), requestId, {
        async: true,
        attempt: rec.attempts,
        ...(previous ? { preferInstance: previous } : {}),
        ...(triggerSource ? { triggerSource } : {}),
        beforeForward: async (ip) => {
          if (rec.instance === ip) return;
          rec.instance = ip;
          await this.queue.putRecord(rec);
        },
      });
      const payload = parseJson(r.payload);
      rec.durationMs = r.executionMs;
      if (r.functionError) {
        outcome = "userError";
        rec.userErrors++;
        rec.error = errorOf(payload);
      } else {
        outcome = "success";
        rec.result = payload;
        delete rec.error;
      }
    } catch (err) {
      outcome = "platformError";
      rec.platformErrors++;
      const e = err instanceof UpdraftError ? err : new UpdraftError("InternalError", String(err));
      rec.error = { errorCode: platformCode(e.code), errorMessage: e.message, errorType: e.code };
      rec.lastPlatformError = `${e.code}: ${e.message}`;
    } finally {
      clearInterval(keepAlive);
      this.inFlight--;
    }

    const next = afterAttempt(outcome, rec, enqueuedAt, this.now(), policy);
    if (next.action === "done") {
      rec = { ...rec, status: "Succeeded", finishedAt: new Date(this.now()).toISOString() };
      await this.queue.putRecord(rec);
      m.ack();
    } else if (next.action === "retry") {
      this.figures?.retried(namespace, name, outcome === "userError" ? "user_error" : "platform_error");
      rec = { ...rec, status: "Retrying", nextAttemptAt: new Date(this.now() + next.delayMs).toISOString() };
      await this.queue.putRecord(rec);
      m.nak(next.delayMs);
    } else {
      await this.deadLetter(st, rec, m, next.reason);
    }
  }

  /**
   * Writes the dead letter (SCF's RequestID, ErrorCode, ErrorMessage, and the event) to
   * the function's target — another Function's queue, or a NATS subject — then the
   * record, then acks. With no target the event ends Failed.
   */
  private async deadLetter(
    st: F,
    rec: InvocationRecord,
    m: JsMsg,
    reason: "RetriesExhausted" | "EventExpired",
  ): Promise<void> {
    const [namespace, name] = st.key.split("/") as [string, string];
    const error =
      reason === "EventExpired" && !rec.error
        ? {
            errorCode: 410,
            errorMessage: `the event is older than maxEventAgeSeconds (${st.spec.async.maxEventAgeSeconds} s)`,
            errorType: "EventExpired",
          }
        : (rec.error ?? { errorCode: 500, errorMessage: "failed", errorType: "InternalError" });
    const letter = Buffer.from(
      JSON.stringify({
        RequestID: rec.requestId,
        ErrorCode: error.errorCode,
        ErrorMessage: error.errorMessage,
        Reason: reason,
        Namespace: namespace,
        FunctionName: name,
        Attempts: rec.attempts,
        Event: parseJson(Buffer.from(m.data)),
      }),
    );
    const where = await this.queue.sendDeadLetter(
      namespace,
      st.spec.async.deadLetter,
      rec.requestId,
      letter,
      this.now(),
    );
    const final: InvocationRecord = {
      ...rec,
      status: where ? "DeadLettered" : "Failed",
      error,
      finishedAt: new Date(this.now()).toISOString(),
      ...(where ? { deadLetter: where } : {}),
    };
    delete final.nextAttemptAt;
    await this.queue.putRecord(final);
    m.ack();
    this.figures?.ended(namespace, name, where ? "dead_lettered" : "failed", reason);
    this.log.info("async event ended without success", {
      function: st.key,
      requestId: rec.requestId,
      reason,
      attempts: rec.attempts,
      deadLetter: where ?? "none",
    });
  }

  /** The functions this replica consumes ("namespace/name"). */
  consumed(): string[] {
    return [...this.running.keys()];
  }

  /** Stops taking events; waits (at most maxMs) for those running. The rest come back later. */
  async drain(maxMs: number): Promise<void> {
    for (const handle of this.running.values()) {
      handle.stopped = true;
      await handle.messages?.close().catch(() => undefined);
    }
    this.running.clear();
    const deadline = Date.now() + maxMs;
    while (this.inFlight > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
  }
}

function parseJson(b: Buffer): unknown {
  try {
    return JSON.parse(b.toString("utf8"));
  } catch {
    return b.toString("utf8");
  }
}

function errorOf(payload: unknown): InvocationRecord["error"] {
  const p = (payload ?? {}) as { errorCode?: unknown; errorMessage?: unknown; errorType?: unknown };
  return {
    errorCode: typeof p.errorCode === "number" ? p.errorCode : 430,
    errorMessage: typeof p.errorMessage === "string" ? p.errorMessage : JSON.stringify(payload),
    errorType: typeof p.errorType === "string" ? p.errorType : "UserCodeException",
  };
}
