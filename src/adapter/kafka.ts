/**
 * Kafka (pull, sync by default): one consumer group per Trigger; records are delivered in
 * batches of at most batchSize (SCF's maxMsgNum) as SCF's CKafka event, one batch at a time
 * per partition, so order holds within a partition while partitions run side by side.
 *
 * An offset is committed only after its batch succeeded, so an adapter killed mid-batch
 * leaves that batch to the next consumer and never re-processes a committed one. A batch
 * the function fails is retried maxRetries times (1 s, 2 s, … 30 s apart), then handed to
 * the function's dead-letter target, counted as failed and skipped. Throttling (429/432)
 * and an unreachable platform never use up retries: the partition waits — backpressure —
 * and the consumer stops fetching once max(4 × batchSize, 256) records wait, so nothing
 * piles up.
 */

import { createHash } from "node:crypto";
import {
  Consumer,
  type Message,
  type MessagesStream,
  MessagesStreamFallbackModes,
  MessagesStreamModes,
  stringDeserializers,
} from "@platformatic/kafka";
import type { Adapter, AdapterContext } from "./adapter.ts";

type Msg = Message<string, string, string, string>;

export const DEFAULT_BATCH_SIZE = 100;
export const DEFAULT_MAX_RETRIES = 10_000;
const HEALTH_INTERVAL_MS = 5_000;
/** Records the consumer may hold before it stops fetching (at least 4 × batchSize). */
export const MIN_BUFFERED_RECORDS = 256;

/** SCF's CKafka event for a batch of one partition's records. */
export function ckafkaEvent(
  records: { topic: string; partition: number; offset: bigint; key: string | undefined; value: string }[],
) {
  return {
    Records: records.map((r) => ({
      Ckafka: {
        topic: r.topic,
        partition: r.partition,
        offset: Number(r.offset),
        msgKey: r.key ?? "",
        msgBody: r.value,
      },
    })),
  };
}

/** Delay before retry n (1-based) of a failed batch: 1 s, 2 s, 4 s … at most 30 s. */
export function retryDelayMs(n: number): number {
  return Math.min(30_000, 1000 * 2 ** Math.max(0, n - 1));
}

export function kafkaAdapter(ctx: AdapterContext): Adapter {
  const spec = ctx.trigger.spec.kafka!;
  const { namespace, name } = ctx.trigger;
  const groupId = spec.consumerGroup ?? `updraft-${namespace}-${name}`;
  const batchSize = spec.batchSize ?? DEFAULT_BATCH_SIZE;
  const maxRetries = spec.maxRetries ?? DEFAULT_MAX_RETRIES;
  const mode = ctx.trigger.spec.invocation ?? "Sync";
  // Enough waiting records that every partition has work (with batchSize 1 and six
  // partitions, a bound of 4 × batchSize let one partition's records fill it and ran the
  // partitions one at a time), bounded so a slow function never buffers a whole topic.
  const highWater = Math.max(batchSize * 4, MIN_BUFFERED_RECORDS);
  const consumer = new Consumer<string, string, string, string>({
    clientId: `updraft-${namespace}-${name}`,
    groupId,
    bootstrapBrokers: spec.brokers,
    deserializers: stringDeserializers,
    ...(ctx.credentials.username
      ? {
          sasl: {
            mechanism: "PLAIN" as const,
            username: ctx.credentials.username,
            password: ctx.credentials.password ?? "",
          },
        }
      : {}),
    sessionTimeout: 10_000,
    heartbeatInterval: 1_000,
    rebalanceTimeout: 30_000,
    retries: 3,
  });

  const queues = new Map<number, Msg[]>();
  const workers = new Map<number, Promise<void>>();
  let buffered = 0;
  let stream: MessagesStream<string, string, string, string> | undefined;
  let stopped = false;
  let healthTimer: NodeJS.Timeout | undefined;
  const sleepers = new Set<() => void>();

  const sleep = (ms: number) =>
    new Promise<void>((resolve) => {
      const t = setTimeout(done, ms);
      function done() {
        clearTimeout(t);
        sleepers.delete(done);
        resolve();
      }
      sleepers.add(done);
    });

  /** Runs one batch to its end: delivered, or dead-lettered after its retries. */
  async function runBatch(partition: number, batch: Msg[]): Promise<boolean> {
    const event = ckafkaEvent(batch);
    const first = batch[0]!;
    const last = batch[batch.length - 1]!;
    let failures = 0;
    let lastError = "";
    for (;;) {
      if (stopped) return false;
      const outcome = await ctx.deliver({
        event,
        mode,
        count: batch.length,
        idempotencyKey: `kafka/${first.topic}/${partition}/${first.offset}-${last.offset}`,
      });
      if (outcome.kind === "delivered") return true;
      if (outcome.kind === "throttled") {
        await sleep(outcome.retryAfterMs);
        continue;
      }
      if (outcome.kind === "unavailable") {
        await sleep(2_000);
        continue;
      }
      failures++;
      lastError = outcome.message;
      if (outcome.kind === "rejected" || failures > maxRetries) break;
      ctx.log.warn("kafka batch failed; retrying", {
        partition,
        offset: String(first.offset),
        failures,
        err: lastError,
      });
      await sleep(retryDelayMs(failures));
    }
    const requestId = createHash("sha256")
      .update(`${namespace}/${name}/${first.topic}/${partition}/${first.offset}`)
      .digest("hex")
      .slice(0, 32);
    const where = await ctx.deadLetter({ requestId, error: lastError, attempts: failures, event });
    ctx.log.warn("kafka batch skipped after its retries", {
      partition,
      from: String(first.offset),
      to: String(last.offset),
      deadLetter: where,
    });
    ctx.failed(batch.length);
    return true;
  }

  async function drain(partition: number): Promise<void> {
    const q = queues.get(partition)!;
    while (q.length > 0 && !stopped) {
      const batch = q.slice(0, batchSize);
      let done = false;
      try {
        done = await runBatch(partition, batch);
      } catch (err) {
        ctx.log.warn("kafka batch not finished; retrying", { partition, err: String(err) });
        await sleep(2_000);
        continue;
      }
      if (!done) return;
      // Committing the last record commits the batch (Kafka stores last offset + 1).
      try {
        await (batch[batch.length - 1]!.commit() as Promise<void>);
      } catch (err) {
        // Lost the partition in a rebalance: its new owner starts from the last commit.
        ctx.log.warn("kafka commit failed", { partition, err: String(err) });
      }
      q.splice(0, batch.length);
      buffered -= batch.length;
      if (buffered < highWater && stream?.isPaused()) stream.resume();
    }
  }

  /** One worker per partition, started when its first record waits; it ends when none does. */
  function ensureWorker(partition: number): void {
    if (workers.has(partition) || stopped) return;
    const w = drain(partition).finally(() => {
      workers.delete(partition);
      // A record that arrived as the worker was finishing.
      if ((queues.get(partition)?.length ?? 0) > 0) ensureWorker(partition);
    });
    workers.set(partition, w);
  }

  function onMessage(m: Msg): void {
    let q = queues.get(m.partition);
    if (!q) {
      q = [];
      queues.set(m.partition, q);
    }
    q.push(m);
    buffered++;
    if (buffered >= highWater) stream?.pause();
    ensureWorker(m.partition);
  }

  /** Source health and lag: the topic's metadata answers, and how far the group is behind. */
  async function health(): Promise<void> {
    try {
      const md = await withTimeout(consumer.metadata({ topics: [spec.topic] }), 4_000);
      if (!md.topics.has(spec.topic)) {
        ctx.source({ ready: false, reason: "TopicNotFound", message: `topic ${spec.topic} does not exist` });
        return;
      }
      ctx.source({
        ready: true,
        reason: "Connected",
        message: `consuming ${spec.topic} as group ${groupId}`,
      });
      const lag = await withTimeout(consumer.getLag({ topics: [spec.topic] }), 4_000);
      let total = 0;
      for (const parts of lag.values()) for (const l of parts) if (l > 0n) total += Number(l);
      ctx.lag(total);
    } catch (err) {
      ctx.source({
        ready: false,
        reason: "BrokerUnreachable",
        message: `Kafka ${spec.brokers.join(",")}: ${String(err).slice(0, 200)}`,
      });
    }
  }

  async function connect(): Promise<void> {
    let backoff = 1_000;
    while (!stopped) {
      try {
        stream = await consumer.consume({
          topics: [spec.topic],
          autocommit: false,
          mode: MessagesStreamModes.COMMITTED,
          fallbackMode:
            spec.startingOffset === "earliest"
              ? MessagesStreamFallbackModes.EARLIEST
              : MessagesStreamFallbackModes.LATEST,
          maxWaitTime: 500,
          highWaterMark: batchSize,
        });
        stream.on("data", onMessage);
        stream.on("error", (err: Error) => {
          ctx.log.warn("kafka stream error", { err: String(err) });
          ctx.source({ ready: false, reason: "BrokerUnreachable", message: String(err).slice(0, 200) });
        });
        return;
      } catch (err) {
        ctx.source({
          ready: false,
          reason: "BrokerUnreachable",
          message: `Kafka ${spec.brokers.join(",")}: ${String(err).slice(0, 200)}`,
        });
        ctx.log.warn("kafka consumer not started; retrying", { err: String(err), inMs: backoff });
        await sleep(backoff);
        backoff = Math.min(backoff * 2, 30_000);
      }
    }
  }

  return {
    async start() {
      void connect();
      void health();
      healthTimer = setInterval(() => void health(), HEALTH_INTERVAL_MS);
    },
    async stop() {
      stopped = true;
      if (healthTimer) clearInterval(healthTimer);
      for (const wake of sleepers) wake();
      await Promise.allSettled([...workers.values()]);
      await stream?.close().catch(() => undefined);
      await consumer.close(true).catch(() => undefined);
    },
  };
}

function withTimeout<T>(p: Promise<T>, ms: number): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const t = setTimeout(() => reject(new Error(`no answer in ${ms} ms`)), ms);
    p.then(
      (v) => {
        clearTimeout(t);
        resolve(v);
      },
      (e: unknown) => {
        clearTimeout(t);
        reject(e);
      },
    );
  });
}
