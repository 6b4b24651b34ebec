/**
 * Queue (async by default): a user's broker, never Updraft's internal JetStream.
 * - NATS (push): a subscription in a queue group (replicas share the messages). A message
 *   published with a reply subject is answered only once the async queue stored its event —
 *   that answer is its acknowledgement; core NATS has no redelivery, so a message in flight
 *   when the adapter dies is lost, as with any core NATS subscriber (use AMQP or JetStream
 *   sources for at-least-once).
 * - AMQP 0.9.1 (pull): a durable queue consumed with manual acknowledgements; a message is
 *   acknowledged only after the async queue stored its event, so a crash before that gives
 *   it back to the broker, and its idempotency key (the AMQP message-id) keeps the repeat
 *   from being stored twice.
 * Each message becomes SCF's CMQ event (type "topic" for NATS subjects, "queue" for AMQP).
 */
import { randomUUID } from "node:crypto";
import { type NatsConnection, type Msg as NatsMsg, connect as natsConnect } from "@nats-io/transport-node";
import amqp from "amqplib";
import { shownUrl } from "../lib/url.ts";
import type { Adapter, AdapterContext } from "./adapter.ts";
import type { DeliveryOutcome } from "./invoker.ts";

export interface CmqMessage {
  type: "topic" | "queue";
  owner: string;
  name: string;
  subscription: string;
  msgId: string;
  body: string;
  tag: string;
  publishTime: number;
}

/** SCF's CMQ event for one message. */
export function cmqEvent(m: CmqMessage) {
  const common = {
    type: m.type,
    topicOwner: m.owner,
    ...(m.type === "topic" ? { topicName: m.name } : { queueName: m.name }),
    subscriptionName: m.subscription,
    publishTime: new Date(m.publishTime).toISOString(),
    msgId: m.msgId,
    requestId: randomUUID(),
    msgBody: m.body,
    msgTag: m.tag,
  };
  return { Records: [{ CMQ: common }] };
}

/** A message passes when the Trigger has no filterTags or shares one of its tags. */
export function tagsMatch(filter: readonly string[] | undefined, tag: string): boolean {
  if (!filter || filter.length === 0) return true;
  const tags = tag.split(",").map((t) => t.trim());
  return filter.some((f) => tags.includes(f));
}

/** Header (NATS) or AMQP header carrying a message's tags, comma-separated. */
export const MSG_TAG_HEADER = "x-msg-tag";

export function queueAdapter(ctx: AdapterContext): Adapter {
  const spec = ctx.trigger.spec.queue!;
  return spec.protocol === "AMQP" ? amqpAdapter(ctx) : natsAdapter(ctx);
}

/**
 * Delivers one message until it is stored or refused for good (throttling and an
 * unavailable platform are waited out); undefined when the adapter stopped first.
 */
async function store(
  ctx: AdapterContext,
  event: unknown,
  key: string | undefined,
  stopped: () => boolean,
): Promise<DeliveryOutcome | undefined> {
  const mode = ctx.trigger.spec.invocation ?? "Async";
  let backoff = 500;
  for (;;) {
    const outcome = await ctx.deliver({ event, mode, ...(key ? { idempotencyKey: key } : {}) });
    if (outcome.kind !== "throttled" && outcome.kind !== "unavailable") return outcome;
    if (stopped()) return undefined;
    await new Promise((r) => setTimeout(r, outcome.kind === "throttled" ? outcome.retryAfterMs : backoff));
    backoff = Math.min(backoff * 2, 10_000);
  }
}

function natsAdapter(ctx: AdapterContext): Adapter {
  const spec = ctx.trigger.spec.queue!;
  const { namespace, name } = ctx.trigger;
  let nc: NatsConnection | undefined;
  let stopped = false;
  const inFlight = new Set<Promise<void>>();

  async function handle(m: NatsMsg): Promise<void> {
    const tag = m.headers?.get(MSG_TAG_HEADER) ?? "";
    if (!tagsMatch(spec.filterTags, tag)) {
      if (m.reply) m.respond("filtered");
      return;
    }
    const msgId = m.headers?.get("Nats-Msg-Id") || "";
    const event = cmqEvent({
      type: "topic",
      owner: namespace,
      name: spec.topic,
      subscription: name,
      msgId: msgId || String(m.sid),
      body: m.string(),
      tag,
      publishTime: ctx.now(),
    });
    const outcome = await store(ctx, event, msgId ? `nats/${spec.topic}/${msgId}` : undefined, () => stopped);
    if (!outcome) return;
    if (outcome.kind === "delivered") {
      if (m.reply) m.respond(JSON.stringify({ requestId: outcome.requestId }));
    } else {
      ctx.failed(1);
      if (m.reply) m.respond(JSON.stringify({ error: outcome.kind }));
    }
  }

  async function run(): Promise<void> {
    let backoff = 1_000;
    while (!stopped) {
      try {
        nc = await natsConnect({
          servers: spec.url,
          name: `updraft-${namespace}-${name}`,
          ...(ctx.credentials.username
            ? { user: ctx.credentials.username, pass: ctx.credentials.password ?? "" }
            : {}),
          maxReconnectAttempts: -1,
          reconnectTimeWait: 1_000,
        });
      } catch (err) {
        ctx.source({
          ready: false,
          reason: "BrokerUnreachable",
          message: `NATS ${spec.url}: ${String(err)}`,
        });
        await new Promise((r) => setTimeout(r, backoff));
        backoff = Math.min(backoff * 2, 30_000);
        continue;
      }
      ctx.source({ ready: true, reason: "Connected", message: `subscribed to ${spec.topic}` });
      void (async () => {
        for await (const s of nc!.status()) {
          if (s.type === "disconnect")
            ctx.source({
              ready: false,
              reason: "BrokerUnreachable",
              message: `NATS ${spec.url}: disconnected`,
            });
          else if (s.type === "reconnect")
            ctx.source({ ready: true, reason: "Connected", message: `subscribed to ${spec.topic}` });
        }
      })();
      nc.subscribe(spec.topic, {
        queue: `updraft-${namespace}-${name}`,
        callback: (err, m) => {
          if (err || stopped) return;
          const p = handle(m).finally(() => inFlight.delete(p));
          inFlight.add(p);
        },
      });
      return;
    }
  }

  return {
    async start() {
      void run();
    },
    async stop() {
      stopped = true;
      await nc?.drain().catch(() => undefined);
      await Promise.allSettled([...inFlight]);
      await nc?.close().catch(() => undefined);
    },
  };
}

function amqpAdapter(ctx: AdapterContext): Adapter {
  const spec = ctx.trigger.spec.queue!;
  const { namespace, name } = ctx.trigger;
  let conn: amqp.ChannelModel | undefined;
  let stopped = false;
  const inFlight = new Set<Promise<void>>();

  function url(): string {
    const u = new URL(spec.url);
    if (ctx.credentials.username) {
      u.username = encodeURIComponent(ctx.credentials.username);
      u.password = encodeURIComponent(ctx.credentials.password ?? "");
    }
    return u.toString();
  }

  async function handle(ch: amqp.Channel, m: amqp.ConsumeMessage): Promise<void> {
    const tag = String(m.properties.headers?.[MSG_TAG_HEADER] ?? "");
    if (!tagsMatch(spec.filterTags, tag)) {
      ch.ack(m);
      return;
    }
    const msgId = typeof m.properties.messageId === "string" ? m.properties.messageId : "";
    const ts = typeof m.properties.timestamp === "number" ? m.properties.timestamp * 1000 : ctx.now();
    const event = cmqEvent({
      type: "queue",
      owner: namespace,
      name: spec.topic,
      subscription: name,
      msgId: msgId || String(m.fields.deliveryTag),
      body: m.content.toString(),
      tag,
      publishTime: ts,
    });
    const outcome = await store(ctx, event, msgId ? `amqp/${spec.topic}/${msgId}` : undefined, () => stopped);
    // Stopped before it was stored: the broker gives it to the next consumer.
    if (!outcome) return;
    if (outcome.kind === "delivered") ch.ack(m);
    else {
      ctx.failed(1);
      // Refused for good (not JSON-able, unknown function): to the queue's dead-letter
      // exchange if it has one, else dropped — requeueing would loop forever.
      ch.nack(m, false, false);
    }
  }

  async function run(): Promise<void> {
    let backoff = 1_000;
    while (!stopped) {
      try {
        conn = await amqp.connect(url(), { timeout: 5_000 });
        const ch = await conn.createChannel();
        await ch.assertQueue(spec.topic, { durable: true });
        await ch.prefetch(64);
        const closed = new Promise<void>((resolve) => {
          conn!.on("close", () => resolve());
          conn!.on("error", () => undefined);
        });
        await ch.consume(spec.topic, (m) => {
          if (!m) return;
          const p = handle(ch, m).finally(() => inFlight.delete(p));
          inFlight.add(p);
        });
        ctx.source({ ready: true, reason: "Connected", message: `consuming queue ${spec.topic}` });
        backoff = 1_000;
        await closed;
        conn = undefined;
        if (stopped) return;
        ctx.source({
          ready: false,
          reason: "BrokerUnreachable",
          message: `AMQP ${shownUrl(spec.url, { user: true, query: true })}: connection closed`,
        });
      } catch (err) {
        ctx.source({
          ready: false,
          reason: "BrokerUnreachable",
          message: `AMQP ${shownUrl(spec.url, { user: true, query: true })}: ${String(err)}`,
        });
      }
      await new Promise((r) => setTimeout(r, backoff));
      backoff = Math.min(backoff * 2, 30_000);
    }
  }

  let running: Promise<void> | undefined;
  return {
    async start() {
      running = run();
    },
    async stop() {
      stopped = true;
      await Promise.allSettled([...inFlight]);
      await conn?.close().catch(() => undefined);
      await running;
    },
  };
}
