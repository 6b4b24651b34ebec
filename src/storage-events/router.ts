/**
 * The storage-events router: the object store sends one global feed of bucket
 * notifications (to a Kafka topic); this system component consumes it and posts each
 * record only to the adapters of the ObjectStorage Triggers it matches (bucket, event kind,
 * prefix, suffix), so no tenant ever sees another's events. A feed message is committed
 * only once every matching adapter has stored its events, so nothing accepted by the feed
 * is lost across restarts (an adapter that is gone — Trigger deleted or disabled — is
 * skipped). It also answers adapters' questions about buckets (HEAD on the store).
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import {
  Consumer,
  type Message,
  type MessagesStream,
  MessagesStreamFallbackModes,
  MessagesStreamModes,
  stringDeserializers,
} from "@platformatic/kafka";
import { AwsClient } from "aws4fetch";
import { Counter, type Registry } from "prom-client";
import { request } from "undici";
import type { UpdraftTrigger } from "../api/v1alpha1.ts";
import type { Cache } from "../lib/kube.ts";
import type { Logger } from "../lib/logger.ts";
import { recordMatches, type S3Record, type StorageEventsPush } from "../protocol/storage-events.ts";
import { ADAPTER_EVENTS_PATH, ADAPTER_PORT, adapterName } from "../protocol/triggers.ts";

export interface RouterConfig {
  port: number;
  brokers: string[];
  topic: string;
  group: string;
  s3Endpoint: string;
  s3Region: string;
  s3AccessKey: string;
  s3SecretKey: string;
  appid: string;
  /** Cluster DNS suffix, for adapters' Service names. */
  clusterDomain: string;
}

/** Where one Trigger's adapter takes pushes: its Service in its namespace. */
export function adapterEventsUrl(t: UpdraftTrigger, domain: string): string {
  return `http://${adapterName(t.metadata.name!)}.${t.metadata.namespace}.svc.${domain}:${ADAPTER_PORT}${ADAPTER_EVENTS_PATH}`;
}

/** Which records (by index) of one feed message each matching Trigger receives. Pure. */
export function route(
  records: readonly S3Record[],
  triggers: readonly UpdraftTrigger[],
): Map<UpdraftTrigger, number[]> {
  const out = new Map<UpdraftTrigger, number[]>();
  for (const t of triggers) {
    if (t.spec.type !== "ObjectStorage" || !t.spec.objectStorage || t.spec.enabled === false) continue;
    if (t.metadata.deletionTimestamp) continue;
    const matched = records.flatMap((r, i) => (recordMatches(t.spec.objectStorage!, r) ? [i] : []));
    if (matched.length) out.set(t, matched);
  }
  return out;
}

export class StorageEventsRouter {
  private readonly cfg: RouterConfig;
  private readonly triggers: Cache<UpdraftTrigger>;
  private readonly log: Logger;
  private readonly registry: Registry;
  private readonly s3: AwsClient;
  private consumer: Consumer<string, string, string, string> | undefined;
  private stream: MessagesStream<string, string, string, string> | undefined;
  private server: Server | undefined;
  private stopped = false;
  private work: Promise<void> | undefined;
  private readonly routed: Counter<"outcome">;

  constructor(cfg: RouterConfig, triggers: Cache<UpdraftTrigger>, log: Logger, registry: Registry) {
    this.cfg = cfg;
    this.triggers = triggers;
    this.log = log;
    this.registry = registry;
    this.s3 = new AwsClient({
      accessKeyId: cfg.s3AccessKey,
      secretAccessKey: cfg.s3SecretKey,
      service: "s3",
      region: cfg.s3Region,
    });
    this.routed = new Counter({
      name: "updraft_storage_events_records_total",
      help: "Feed records, by outcome (routed: posted to an adapter; unmatched: no Trigger wanted it)",
      labelNames: ["outcome"],
      registers: [registry],
    });
  }

  async start(): Promise<void> {
    this.server = createServer((req, res) => void this.handle(req, res));
    await new Promise<void>((resolve, reject) => {
      this.server!.once("error", reject);
      this.server!.listen(this.cfg.port, () => resolve());
    });
    this.work = this.consume();
  }

  private async consume(): Promise<void> {
    let backoff = 1_000;
    while (!this.stopped) {
      try {
        this.consumer = new Consumer<string, string, string, string>({
          clientId: "updraft-storage-events",
          groupId: this.cfg.group,
          bootstrapBrokers: this.cfg.brokers,
          deserializers: stringDeserializers,
          sessionTimeout: 10_000,
          heartbeatInterval: 1_000,
        });
        this.stream = await this.consumer.consume({
          topics: [this.cfg.topic],
          autocommit: false,
          mode: MessagesStreamModes.COMMITTED,
          fallbackMode: MessagesStreamFallbackModes.LATEST,
          maxWaitTime: 500,
        });
        this.log.info("consuming the object store's feed", { topic: this.cfg.topic });
        backoff = 1_000;
        for await (const m of this.stream as AsyncIterable<Message<string, string, string, string>>) {
          if (this.stopped) break;
          await this.handleMessage(m);
          await (m.commit() as Promise<void>);
        }
      } catch (err) {
        if (this.stopped) break;
        this.log.warn("feed consumer failed; restarting", { err: String(err), inMs: backoff });
        await this.consumer?.close(true).catch(() => undefined);
        await new Promise((r) => setTimeout(r, backoff));
        backoff = Math.min(backoff * 2, 30_000);
      }
    }
  }

  private async handleMessage(m: Message<string, string, string, string>): Promise<void> {
    let records: S3Record[];
    try {
      records = ((JSON.parse(m.value) as { Records?: S3Record[] }).Records ?? []).filter(
        (r) => r?.s3?.bucket,
      );
    } catch {
      this.log.warn("feed message is not an S3 event; skipped", { offset: String(m.offset) });
      return;
    }
    const routes = route(records, this.triggers.list());
    if (routes.size === 0) this.routed.inc({ outcome: "unmatched" }, records.length);
    await Promise.all(
      [...routes].map(async ([t, idx]) => {
        const push: StorageEventsPush = {
          region: this.cfg.s3Region,
          appid: this.cfg.appid,
          records: idx.map((i) => records[i]!),
          ids: idx.map((i) => `${m.topic}/${m.partition}/${m.offset}/${i}`),
        };
        await this.post(t, push);
        this.routed.inc({ outcome: "routed" }, idx.length);
      }),
    );
  }

  /** Posts until the adapter stored the events, or the Trigger no longer wants them. */
  private async post(t: UpdraftTrigger, push: StorageEventsPush): Promise<void> {
    let backoff = 500;
    for (;;) {
      try {
        const res = await request(adapterEventsUrl(t, this.cfg.clusterDomain), {
          method: "POST",
          headers: { "content-type": "application/json" },
          body: JSON.stringify(push),
          headersTimeout: 60_000,
          bodyTimeout: 60_000,
        });
        const text = await res.body.text();
        if (res.statusCode === 200) return;
        this.log.warn("adapter did not store the events; retrying", {
          trigger: keyOf(t),
          status: res.statusCode,
          body: text.slice(0, 200),
        });
      } catch (err) {
        this.log.warn("adapter unreachable; retrying", { trigger: keyOf(t), err: String(err) });
      }
      const now = this.triggers.get(t.metadata.name!, t.metadata.namespace);
      if (this.stopped || !now || now.metadata.uid !== t.metadata.uid || now.spec.enabled === false) return;
      await new Promise((r) => setTimeout(r, backoff));
      backoff = Math.min(backoff * 2, 10_000);
    }
  }

  /** GET /v1/buckets/{bucket}: 200 BucketFound, 404 BucketNotFound, 503 StoreUnreachable. */
  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const path = (req.url ?? "/").split("?")[0]!;
    const reply = (status: number, body: unknown, type = "application/json") => {
      res.writeHead(status, { "Content-Type": type });
      res.end(typeof body === "string" ? body : JSON.stringify(body));
    };
    if (path === "/healthz" || path === "/readyz") return reply(200, "ok", "text/plain");
    if (path === "/metrics") return reply(200, await this.registry.metrics(), this.registry.contentType);
    const m = /^\/v1\/buckets\/([a-z0-9][a-z0-9.-]{1,61}[a-z0-9])$/.exec(path);
    if (!m || req.method !== "GET") return reply(404, { code: "NotFound", message: `no route for ${path}` });
    const bucket = m[1]!;
    try {
      // Signed by aws4fetch, sent by undici from npm, not aws4fetch's global fetch
      // (lib/http-client.ts: the undici bundled in Node.js 24 can end the process).
      const url = `${this.cfg.s3Endpoint.replace(/\/$/, "")}/${bucket}`;
      const signed = await this.s3.sign(url, { method: "HEAD" });
      const r = await request(url, {
        method: "HEAD",
        headers: Object.fromEntries(signed.headers),
        signal: AbortSignal.timeout(5_000),
      });
      await r.body.dump();
      const status = r.statusCode;
      if (status === 200) return reply(200, { reason: "BucketFound", message: `bucket ${bucket} exists` });
      if (status === 404)
        return reply(404, {
          reason: "BucketNotFound",
          message: `bucket ${bucket} does not exist in ${this.cfg.s3Endpoint}`,
        });
      return reply(503, { reason: "StoreUnreachable", message: `HEAD ${bucket}: ${status}` });
    } catch (err) {
      return reply(503, { reason: "StoreUnreachable", message: `${this.cfg.s3Endpoint}: ${String(err)}` });
    }
  }

  async stop(): Promise<void> {
    this.stopped = true;
    await this.stream?.close().catch(() => undefined);
    await this.consumer?.close(true).catch(() => undefined);
    await this.work;
    await new Promise((r) => (this.server ? this.server.close(() => r(undefined)) : r(undefined)));
  }
}

const keyOf = (t: UpdraftTrigger) => `${t.metadata.namespace}/${t.metadata.name}`;
