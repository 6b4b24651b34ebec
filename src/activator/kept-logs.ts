/**
 * Invocation logs kept after the instances that wrote them stop (protocol/kept-logs.ts):
 * every invocation an activator serves is written, fire and forget, to one JetStream
 * stream, a subject per function — gathered per function into one message of up to 64
 * or 16 KB (LogBatcher): a stored message per invocation cost nats-server ~115 µs of CPU per call
 * (docs/benchmarks.md), a sixth of what the activators spend forwarding it; batched, ~20. Limits: kept `maxAgeSeconds` (a day by default), at
 * most `perFunction` messages per function (so one busy function cannot push out the
 * others' logs), at most `maxBytes` in all. Tenant pods hold no NATS credentials: only the
 * activators write, and reads go through the invoke API with RBAC (list invocations).
 */

import {
  DeliverPolicy,
  DiscardPolicy,
  type JetStreamClient,
  type JetStreamManager,
  jetstream,
  jetstreamManager,
  RetentionPolicy,
  StorageType,
} from "@nats-io/jetstream";
import type { NatsConnection } from "@nats-io/transport-node";
import {
  KEPT_LOGS_MAX_LIST,
  KEPT_LOGS_STREAM,
  KEPT_LOGS_SUBJECTS,
  type KeptInvocation,
  keptLogSubject,
} from "../protocol/kept-logs.ts";

export interface KeptLogsConfig {
  maxAgeSeconds: number;
  maxBytes: number;
  perFunction: number;
}

/** What the server needs of it: write one, read a function's, stop holding any back (at drain). */
export interface InvocationLog {
  keep(entry: KeptInvocation): void;
  stopBatching(): void;
  list(
    namespace: string,
    fn: string,
    opts: { requestId?: string; sinceSeconds: number; limit: number },
  ): Promise<KeptInvocation[]>;
}

const nanos = (s: number) => s * 1_000_000_000;

/**
 * The most invocations one message holds, the most bytes a message of several holds, and
 * how long the first of them waits. 16 KB is the stream's message limit before batching, so
 * a batch fits a stream an activator of the version before made (a rollout has both).
 */
export const BATCH_ENTRIES = 64;
export const BATCH_BYTES = 16 * 1024;
export const BATCH_WAIT_MS = 50;
/**
 * A message of one invocation can be larger than BATCH_BYTES: its log result is at most 4 KB,
 * but JSON escapes a control character in six bytes (4 KB of them: 24 KB), plus the summary.
 */
const MAX_MESSAGE_BYTES = 64 * 1024;

/**
 * Kept invocations gathered per subject into one message: a message goes when it holds
 * BATCH_ENTRIES, or before the entry that would take it past BATCH_BYTES (UTF-8, as sent), or
 * BATCH_WAIT_MS after its first entry. One entry alone is sent as itself, more as a JSON
 * array (readEntries reads both). Example: 300 invocations of 500 bytes of one function
 * within 50 ms → 10 messages of 32 (16,384 / 501 bytes with a comma) and one of 12, not 300;
 * one invocation in a quiet second → 1 message, 50 ms after it. After stop(), each entry
 * goes at once (an activator draining keeps nothing back).
 */
export class LogBatcher {
  private readonly pending = new Map<string, { items: string[]; bytes: number }>();
  private timer: NodeJS.Timeout | undefined;
  private stopped = false;
  private readonly publish: (subject: string, payload: string, entries: number) => void;
  private readonly waitMs: number;

  constructor(publish: (subject: string, payload: string, entries: number) => void, waitMs = BATCH_WAIT_MS) {
    this.publish = publish;
    this.waitMs = waitMs;
  }

  add(subject: string, entry: string): void {
    const bytes = Buffer.byteLength(entry);
    let batch = this.pending.get(subject);
    // The array's brackets and a comma per entry count too: [a,b] is a + b + 3 bytes.
    if (batch && batch.bytes + bytes + batch.items.length + 2 > BATCH_BYTES) {
      this.send(subject);
      batch = undefined;
    }
    if (!batch) {
      batch = { items: [], bytes: 0 };
      this.pending.set(subject, batch);
    }
    batch.items.push(entry);
    batch.bytes += bytes;
    if (this.stopped || batch.items.length >= BATCH_ENTRIES || batch.bytes >= BATCH_BYTES) this.send(subject);
    else if (!this.timer) {
      this.timer = setTimeout(() => {
        this.timer = undefined;
        this.flush();
      }, this.waitMs);
      this.timer.unref?.();
    }
  }

  /** Sends every waiting batch now. */
  flush(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
    for (const subject of [...this.pending.keys()]) this.send(subject);
  }

  /** Sends what waits, and from now on every entry at once. */
  stop(): void {
    this.stopped = true;
    this.flush();
  }

  private send(subject: string): void {
    const batch = this.pending.get(subject);
    if (!batch) return;
    this.pending.delete(subject);
    const payload = batch.items.length === 1 ? batch.items[0]! : `[${batch.items.join(",")}]`;
    this.publish(subject, payload, batch.items.length);
  }
}

/** The invocations a stored message holds: one object, or an array of them (LogBatcher). */
export function readEntries(payload: string): KeptInvocation[] {
  const parsed = JSON.parse(payload) as KeptInvocation | KeptInvocation[];
  return Array.isArray(parsed) ? parsed : [parsed];
}

export class KeptLogs implements InvocationLog {
  private readonly js: JetStreamClient;
  private readonly batcher: LogBatcher;
  /** Invocations written and dropped (the connection refused them) since start: what the metrics show. */
  kept = 0;
  dropped = 0;

  private constructor(nc: NatsConnection, js: JetStreamClient) {
    this.js = js;
    this.batcher = new LogBatcher((subject, payload, entries) => {
      try {
        nc.publish(subject, payload);
        this.kept += entries;
      } catch {
        this.dropped += entries;
      }
    });
  }

  /** Makes the stream exist with these limits (updated when they changed). */
  static async open(nc: NatsConnection, cfg: KeptLogsConfig): Promise<KeptLogs> {
    const jsm: JetStreamManager = await jetstreamManager(nc);
    const config = {
      name: KEPT_LOGS_STREAM,
      subjects: [KEPT_LOGS_SUBJECTS],
      retention: RetentionPolicy.Limits,
      storage: StorageType.File,
      discard: DiscardPolicy.Old,
      max_age: nanos(cfg.maxAgeSeconds),
      max_bytes: cfg.maxBytes,
      max_msgs_per_subject: cfg.perFunction,
      // A batch is at most 16 KB; one invocation alone may be more (MAX_MESSAGE_BYTES).
      max_msg_size: MAX_MESSAGE_BYTES,
      num_replicas: 1,
    };
    const existing = await jsm.streams.info(KEPT_LOGS_STREAM).catch(() => undefined);
    if (existing) await jsm.streams.update(KEPT_LOGS_STREAM, config);
    else await jsm.streams.add(config);
    return new KeptLogs(nc, jetstream(nc));
  }

  /**
   * Fire and forget: batched (LogBatcher), then a plain publish the stream takes in, not
   * waited for — an invocation's answer never waits on its log. (Lost only if nats-server is
   * down when its batch goes, or the activator is killed within 50 ms of it.)
   */
  keep(entry: KeptInvocation): void {
    this.batcher.add(keptLogSubject(entry.namespace, entry.function), JSON.stringify(entry));
  }

  stopBatching(): void {
    this.batcher.stop();
  }

  /** A function's kept invocations since `sinceSeconds` ago, oldest first, the newest `limit`. */
  async list(
    namespace: string,
    fn: string,
    opts: { requestId?: string; sinceSeconds: number; limit: number },
  ): Promise<KeptInvocation[]> {
    const subject = keptLogSubject(namespace, fn);
    // An ordered consumer (ephemeral, flow-controlled) from the start time, this subject only.
    const consumer = await this.js.consumers.get(KEPT_LOGS_STREAM, {
      filter_subjects: [subject],
      deliver_policy: DeliverPolicy.StartTime,
      opt_start_time: new Date(Date.now() - opts.sinceSeconds * 1000).toISOString(),
    });
    const out: KeptInvocation[] = [];
    const info = await consumer.info(true);
    let pending = info.num_pending;
    if (pending === 0) return out;
    const messages = await consumer.fetch({ max_messages: Math.min(pending, 10_000), expires: 5000 });
    for await (const m of messages) {
      pending = m.info.pending;
      try {
        for (const e of readEntries(m.string()))
          if (!opts.requestId || e.requestId === opts.requestId) out.push(e);
      } catch {
        // Not ours: skipped.
      }
      if (pending === 0) break;
    }
    return out.slice(-Math.min(opts.limit, KEPT_LOGS_MAX_LIST));
  }
}
