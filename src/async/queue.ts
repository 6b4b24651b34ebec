/**
 * The durable async queue (docs/async.md): NATS JetStream. One stream, one subject per
 * function (updraft.async.{namespace}.{function}), file storage, events kept at most 6 h,
 * at most `maxPerFunction` waiting per function — a full queue refuses at enqueue time,
 * it never drops — and a duplicate window keyed by the request id. Invocation records
 * (status, attempts, result or error, timings) live in a key-value bucket with a TTL, so
 * any activator answers GET /v1/namespaces/{ns}/invocations/{id}.
 */
import {
  AckPolicy,
  DiscardPolicy,
  type JetStreamClient,
  type JetStreamManager,
  jetstream,
  jetstreamManager,
  RetentionPolicy,
  StorageType,
} from "@nats-io/jetstream";
import { type KV, Kvm } from "@nats-io/kv";
import { type NatsConnection, headers as natsHeaders } from "@nats-io/transport-node";
import { UpdraftError } from "../lib/errors.ts";

export const STREAM = "UPDRAFT_ASYNC";
export const RECORDS_BUCKET = "updraft-invocations";
export const ENQUEUED_AT_HEADER = "Updraft-Enqueued-At";
export const ASYNC_LIMIT_BYTES = 128 * 1024;

export type InvocationStatus = "Queued" | "Running" | "Retrying" | "Succeeded" | "Failed" | "DeadLettered";

export interface InvocationRecord {
  requestId: string;
  namespace: string;
  function: string;
  status: InvocationStatus;
  /** Runs started. */
  attempts: number;
  userErrors: number;
  platformErrors: number;
  enqueuedAt: string;
  startedAt?: string;
  finishedAt?: string;
  nextAttemptAt?: string;
  durationMs?: number;
  result?: unknown;
  error?: { errorCode: number; errorMessage: string; errorType: string };
  deadLetter?: string;
  /** The latest platform error (kept after a success, to explain a retry). */
  lastPlatformError?: string;
  /** The instance (pod IP) the latest attempt was sent to. */
  instance?: string;
}

export interface QueueConfig {
  maxPerFunction: number;
  maxAgeMs: number;
  recordTtlMs: number;
  duplicateWindowMs: number;
}

const nanos = (ms: number) => ms * 1_000_000;

export function subjectOf(namespace: string, fn: string): string {
  return `updraft.async.${namespace}.${fn}`;
}

/**
 * A trigger's own subject under its function's, so each trigger has its own 100,000-event
 * limit (SCF's per-trigger queue) and one busy trigger cannot fill the queue of direct calls:
 * trigger "tick" of demo/hello → updraft.async.demo.hello.tick. Kubernetes names may hold
 * dots, which NATS reads as separators; they cannot hold "_", so "." → "_" stays unique.
 */
export function triggerSubjectOf(namespace: string, fn: string, trigger: string): string {
  return `${subjectOf(namespace, fn)}.${trigger.replaceAll(".", "_")}`;
}

/**
 * Where a dead letter to `async.deadLetter.subject` goes: under a prefix of the function's
 * own namespace, which Updraft adds — so a Function in "team-a" naming "orders.failed"
 * publishes to updraft.dead-letters.team-a.orders.failed, and no namespace can write into
 * another's subjects (or into the async stream, updraft.async.>) whatever it names. The
 * CRD's pattern keeps wildcards (* and >), spaces and empty tokens out of the name; the
 * same check runs here, so a Function admitted by an older CRD, or written around it, gets
 * undefined ("orders.>" names many subjects, "orders..x" none) and its letters go nowhere.
 */
export function deadLetterSubjectOf(namespace: string, subject: string): string | undefined {
  if (!DEAD_LETTER_SUBJECT.test(subject) || subject.length > 200) return undefined;
  return `updraft.dead-letters.${namespace}.${subject}`;
}

/** One NATS subject of plain tokens: the CRD's pattern for spec.async.deadLetter.subject. */
const DEAD_LETTER_SUBJECT = /^[A-Za-z0-9_-]+(\.[A-Za-z0-9_-]+)*$/;

/** The subjects a function's consumer reads: direct calls and every trigger's. */
export function subjectsOf(namespace: string, fn: string): string[] {
  return [subjectOf(namespace, fn), `${subjectOf(namespace, fn)}.>`];
}

export interface EnqueueOptions {
  /** The Trigger the event came from: its own subject. */
  trigger?: string;
  /** Passed to the function as TRIGGER_SRC. */
  triggerSource?: string;
  /**
   * The request id was derived from an idempotency key: store the event only if no record
   * of that id exists yet. Resolves "duplicate" when one does.
   */
  idempotent?: boolean;
}

export const TRIGGER_SOURCE_HEADER = "Updraft-Trigger-Source";

export function consumerOf(namespace: string, fn: string): string {
  return `fn_${namespace}_${fn}`;
}

export function recordKey(namespace: string, requestId: string): string {
  return `${namespace}.${requestId}`;
}

export class AsyncQueue {
  readonly nc: NatsConnection;
  readonly js: JetStreamClient;
  readonly jsm: JetStreamManager;
  readonly records: KV;

  private constructor(nc: NatsConnection, js: JetStreamClient, jsm: JetStreamManager, records: KV) {
    this.nc = nc;
    this.js = js;
    this.jsm = jsm;
    this.records = records;
  }

  /** Connects and makes the stream and the record bucket exist with this configuration. */
  static async open(nc: NatsConnection, cfg: QueueConfig): Promise<AsyncQueue> {
    const jsm = await jetstreamManager(nc);
    const stream = {
      name: STREAM,
      subjects: ["updraft.async.>"],
      retention: RetentionPolicy.Workqueue,
      storage: StorageType.File,
      max_age: nanos(cfg.maxAgeMs),
      max_msgs_per_subject: cfg.maxPerFunction,
      discard: DiscardPolicy.New,
      discard_new_per_subject: true,
      duplicate_window: nanos(cfg.duplicateWindowMs),
    };
    try {
      await jsm.streams.info(STREAM);
      await jsm.streams.update(STREAM, stream);
    } catch (err) {
      if (!/not found/i.test(String(err))) throw err;
      await jsm.streams.add(stream);
    }
    const records = await new Kvm(nc).create(RECORDS_BUCKET, {
      ttl: cfg.recordTtlMs,
      history: 1,
      storage: StorageType.File,
    });
    return new AsyncQueue(nc, jetstream(nc), jsm, records);
  }

  /**
   * Stores the event; resolves once JetStream has it on disk (the caller may then answer
   * 202). A full queue is AsyncQueueFull.
   */
  async enqueue(
    namespace: string,
    fn: string,
    requestId: string,
    event: Buffer,
    nowMs: number,
    opts: EnqueueOptions = {},
  ): Promise<"stored" | "duplicate"> {
    const record: InvocationRecord = {
      requestId,
      namespace,
      function: fn,
      status: "Queued",
      attempts: 0,
      userErrors: 0,
      platformErrors: 0,
      enqueuedAt: new Date(nowMs).toISOString(),
    };
    if (opts.idempotent) {
      // create() fails when the key exists: of two adapter replicas (or a restarted adapter)
      // enqueueing the same scheduled time, exactly one stores it, for the record's whole
      // TTL — far longer than JetStream's duplicate window, which still guards the publish.
      try {
        await this.records.create(recordKey(namespace, requestId), JSON.stringify(record));
      } catch (err) {
        if (/wrong last sequence|exists/i.test(String(err))) return "duplicate";
        throw new UpdraftError("QueueUnavailable", `the async queue did not take the event: ${String(err)}`, {
          cause: err,
        });
      }
    } else {
      await this.putRecord(record);
    }
    const h = natsHeaders();
    h.set(ENQUEUED_AT_HEADER, String(nowMs));
    if (opts.triggerSource) h.set(TRIGGER_SOURCE_HEADER, opts.triggerSource);
    const subject = opts.trigger ? triggerSubjectOf(namespace, fn, opts.trigger) : subjectOf(namespace, fn);
    try {
      await this.js.publish(subject, event, { msgID: requestId, headers: h });
    } catch (err) {
      await this.records.delete(recordKey(namespace, requestId)).catch(() => undefined);
      if (/maximum messages per subject|maximum messages exceeded|discard/i.test(String(err)))
        throw new UpdraftError(
          "AsyncQueueFull",
          `the async queue of ${namespace}/${fn} is full; try again later`,
          { cause: err },
        );
      throw new UpdraftError("QueueUnavailable", `the async queue did not take the event: ${String(err)}`, {
        cause: err,
      });
    }
    return "stored";
  }

  /**
   * Writes a dead letter to a function's target — another Function's queue (request id
   * "{id}-dl", derived, so a repeat of this step is a duplicate JetStream drops) or a NATS
   * subject — and says where it went; undefined when the function has no target.
   */
  async sendDeadLetter(
    namespace: string,
    target: { function?: string; subject?: string } | undefined,
    requestId: string,
    letter: Buffer,
    nowMs: number,
  ): Promise<string | undefined> {
    if (target?.function) {
      await this.enqueue(namespace, target.function, `${requestId}-dl`, letter, nowMs);
      return `function ${target.function}`;
    }
    if (target?.subject) {
      const subject = deadLetterSubjectOf(namespace, target.subject);
      if (!subject) return undefined;
      this.nc.publish(subject, letter);
      await this.nc.flush();
      return `subject ${subject}`;
    }
    return undefined;
  }

  async getRecord(namespace: string, requestId: string): Promise<InvocationRecord | undefined> {
    const e = await this.records.get(recordKey(namespace, requestId));
    if (e?.operation !== "PUT") return undefined;
    return e.json<InvocationRecord>();
  }

  async putRecord(r: InvocationRecord): Promise<void> {
    await this.records.put(recordKey(r.namespace, r.requestId), JSON.stringify(r));
  }

  async consumerNames(): Promise<string[]> {
    const names: string[] = [];
    for await (const c of this.jsm.consumers.list(STREAM)) names.push(c.name);
    return names;
  }

  /** A deleted function's waiting events and consumer. */
  async forget(namespace: string, fn: string): Promise<void> {
    for (const filter of subjectsOf(namespace, fn)) await this.jsm.streams.purge(STREAM, { filter });
    await this.jsm.consumers.delete(STREAM, consumerOf(namespace, fn)).catch((err: unknown) => {
      if (!/not found/i.test(String(err))) throw err;
    });
  }

  /** The durable pull consumer of one function, shared by every activator. */
  /**
   * A function's backlog: its events not yet acknowledged (waiting, running or waiting to be
   * retried), and the age of the oldest — the stream is a work queue, so an event leaves it
   * when acknowledged, and the first of the function's subjects still in it is the oldest.
   */
  async backlog(
    namespace: string,
    fn: string,
    nowMs: number,
  ): Promise<{ events: number; oldestAgeSeconds: number }> {
    const info = await this.jsm.consumers.info(STREAM, consumerOf(namespace, fn));
    const events = info.num_pending + info.num_ack_pending;
    if (events === 0) return { events, oldestAgeSeconds: 0 };
    let oldest = nowMs;
    for (const subject of subjectsOf(namespace, fn)) {
      // The server's STREAM.MSG.GET takes next_by_subj (the first at or after seq); the
      // client's type names only seq and last_by_subj.
      const m = await this.jsm.streams
        .getMessage(STREAM, { next_by_subj: subject, seq: 0 } as unknown as { seq: number })
        .catch(() => undefined);
      if (m) oldest = Math.min(oldest, m.time.getTime());
    }
    return { events, oldestAgeSeconds: Math.max(0, (nowMs - oldest) / 1000) };
  }

  async ensureConsumer(
    namespace: string,
    fn: string,
    ackWaitMs: number,
    maxAckPending: number,
  ): Promise<string> {
    const name = consumerOf(namespace, fn);
    const cfg = {
      durable_name: name,
      filter_subjects: subjectsOf(namespace, fn),
      ack_policy: AckPolicy.Explicit,
      ack_wait: nanos(ackWaitMs),
      max_deliver: -1,
      max_ack_pending: maxAckPending,
    };
    try {
      await this.jsm.consumers.info(STREAM, name);
      await this.jsm.consumers.update(STREAM, name, {
        ack_wait: cfg.ack_wait,
        max_ack_pending: cfg.max_ack_pending,
        // Consumers made before triggers had subjects read one subject; widen them.
        filter_subjects: cfg.filter_subjects,
        filter_subject: "",
      });
    } catch (err) {
      if (!/not found/i.test(String(err))) throw err;
      await this.jsm.consumers.add(STREAM, cfg);
    }
    return name;
  }
}
