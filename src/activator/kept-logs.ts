/**
 * Invocation logs kept after the instances that wrote them stop (protocol/kept-logs.ts):
 * every invocation an activator serves is written, fire and forget, to one JetStream
 * stream, a subject per function. Limits: kept `maxAgeSeconds` (a day by default), at most
 * `perFunction` invocations per function (so one busy function cannot push out the others'
 * logs), at most `maxBytes` in all. Tenant pods hold no NATS credentials: only the
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

/** What the server needs of it: write one, read a function's. */
export interface InvocationLog {
  keep(entry: KeptInvocation): void;
  list(
    namespace: string,
    fn: string,
    opts: { requestId?: string; sinceSeconds: number; limit: number },
  ): Promise<KeptInvocation[]>;
}

const nanos = (s: number) => s * 1_000_000_000;

export class KeptLogs implements InvocationLog {
  private readonly nc: NatsConnection;
  private readonly js: JetStreamClient;
  /** Written and dropped (the connection refused it) since start: what the metrics show. */
  kept = 0;
  dropped = 0;

  private constructor(nc: NatsConnection, js: JetStreamClient) {
    this.nc = nc;
    this.js = js;
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
      // A log result is at most 4 KB; the summary and JSON escaping stay well under 16.
      max_msg_size: 16 * 1024,
      num_replicas: 1,
    };
    const existing = await jsm.streams.info(KEPT_LOGS_STREAM).catch(() => undefined);
    if (existing) await jsm.streams.update(KEPT_LOGS_STREAM, config);
    else await jsm.streams.add(config);
    return new KeptLogs(nc, jetstream(nc));
  }

  /**
   * Fire and forget: a plain publish the stream takes in, not waited for — an invocation's
   * answer never waits on its log. (Lost only if nats-server is down at that moment.)
   */
  keep(entry: KeptInvocation): void {
    try {
      this.nc.publish(keptLogSubject(entry.namespace, entry.function), JSON.stringify(entry));
      this.kept++;
    } catch {
      this.dropped++;
    }
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
        const e = JSON.parse(m.string()) as KeptInvocation;
        if (!opts.requestId || e.requestId === opts.requestId) out.push(e);
      } catch {
        // Not ours: skipped.
      }
      if (pending === 0) break;
    }
    return out.slice(-Math.min(opts.limit, KEPT_LOGS_MAX_LIST));
  }
}
