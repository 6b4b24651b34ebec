/**
 * Runs one Trigger's adapter: reads the Trigger, builds the adapter its type names, counts
 * and reports what it delivers (Trigger status, batched; Prometheus metrics), serves
 * /healthz, /readyz, /metrics and — for push adapters — the events endpoint.
 */

import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import { Counter, Gauge, type Registry } from "prom-client";
import type { UpdraftTrigger } from "../api/v1alpha1.ts";
import type { Logger } from "../lib/logger.ts";
import { fileToken } from "../lib/token-file.ts";
import { ADAPTER_EVENTS_PATH, TRIGGER_SOURCES } from "../protocol/triggers.ts";
import type { Adapter, AdapterContext, SourceState } from "./adapter.ts";
import type { AdapterConfig } from "./config.ts";
import { ActivatorClient } from "./invoker.ts";
import { type AdapterType, makeAdapter } from "./registry.ts";
import { StatusReporter, type TriggerStatusApi } from "./status.ts";

const MAX_PUSH_BYTES = 8 * 1024 * 1024;

export class AdapterRunner {
  private readonly cfg: AdapterConfig;
  private readonly log: Logger;
  private readonly registry: Registry;
  private readonly api: TriggerStatusApi;
  private readonly token: () => string | undefined;
  private adapter: Adapter | undefined;
  private client: ActivatorClient | undefined;
  private reporter: StatusReporter | undefined;
  private server: Server | undefined;
  private started = false;

  constructor(cfg: AdapterConfig, api: TriggerStatusApi, log: Logger, registry: Registry) {
    this.cfg = cfg;
    this.token = fileToken(cfg.tokenFile);
    this.api = api;
    this.log = log;
    this.registry = registry;
  }

  async start(): Promise<void> {
    const t = await this.readTrigger();
    const type = t.spec.type as AdapterType;
    const labels = { namespace: t.metadata.namespace!, trigger: t.metadata.name!, type };
    const events = new Counter({
      name: "updraft_trigger_events_total",
      help: "Source events handed to the function, by outcome (delivered, duplicate, failed)",
      labelNames: ["namespace", "trigger", "type", "outcome"],
      registers: [this.registry],
    });
    const failures = new Counter({
      name: "updraft_trigger_delivery_failures_total",
      help: "Delivery attempts that did not store or run the event, by kind (functionError, throttled, unavailable, rejected)",
      labelNames: ["namespace", "trigger", "type", "kind"],
      registers: [this.registry],
    });
    const lag = new Gauge({
      name: "updraft_trigger_consumer_lag_messages",
      help: "Messages in the source not yet committed by this trigger's consumer (Kafka)",
      labelNames: ["namespace", "trigger", "type"],
      registers: [this.registry],
    });
    const source = new Gauge({
      name: "updraft_trigger_source_ready",
      help: "1 when the adapter reaches its source (broker, bucket), else 0",
      labelNames: ["namespace", "trigger", "type"],
      registers: [this.registry],
    });

    this.reporter = new StatusReporter(
      this.api,
      { namespace: this.cfg.namespace, name: this.cfg.trigger },
      this.cfg.statusIntervalMs,
      this.log,
    );
    const reporter = this.reporter;
    this.client = new ActivatorClient({
      activatorUrl: this.cfg.activatorUrl,
      namespace: t.metadata.namespace!,
      function: t.spec.function,
      trigger: t.metadata.name!,
      triggerSource: TRIGGER_SOURCES[type],
      timeoutMs: this.cfg.invokeTimeoutMs,
      token: this.token,
    });
    const client = this.client;
    const ctx: AdapterContext = {
      trigger: {
        namespace: t.metadata.namespace!,
        name: t.metadata.name!,
        uid: t.metadata.uid!,
        createdAt: new Date(t.metadata.creationTimestamp ?? Date.now()),
        spec: t.spec,
      },
      deliver: async (d) => {
        const outcome = await client.deliver(d);
        const n = d.count ?? 1;
        if (outcome.kind === "delivered") {
          events.inc({ ...labels, outcome: outcome.duplicate ? "duplicate" : "delivered" }, n);
          if (!outcome.duplicate) reporter.fired(n, Date.now());
        } else {
          failures.inc({ ...labels, kind: outcome.kind });
        }
        return outcome;
      },
      deadLetter: (d) => client.deadLetter(d),
      failed: (n) => {
        events.inc({ ...labels, outcome: "failed" }, n);
        reporter.failed(n);
      },
      source: (s: SourceState) => {
        source.set(labels, s.ready ? 1 : 0);
        reporter.source(s);
      },
      lag: (n) => lag.set(labels, n),
      credentials: this.cfg.credentials,
      log: this.log,
      now: Date.now,
    };
    this.adapter = makeAdapter(type, ctx, {
      storageEventsUrl: this.cfg.storageEventsUrl,
      storeEndpoint: this.cfg.storeEndpoint,
    });
    await this.serve();
    reporter.start();
    await this.adapter.start();
    this.started = true;
    this.log.info("adapter started", { type, function: t.spec.function });
  }

  private async readTrigger(): Promise<UpdraftTrigger> {
    let backoff = 500;
    for (;;) {
      try {
        return await this.api.get(this.cfg.namespace, this.cfg.trigger);
      } catch (err) {
        this.log.warn("trigger not read; retrying", { err: String(err) });
        await new Promise((r) => setTimeout(r, backoff));
        backoff = Math.min(backoff * 2, 10_000);
      }
    }
  }

  private serve(): Promise<void> {
    this.server = createServer((req, res) => void this.handle(req, res));
    return new Promise((resolve, reject) => {
      this.server!.once("error", reject);
      this.server!.listen(this.cfg.port, () => resolve());
    });
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const path = (req.url ?? "/").split("?")[0];
    if (req.method === "GET" && path === "/healthz") return text(res, 200, "ok");
    if (req.method === "GET" && path === "/readyz")
      return text(res, this.started ? 200 : 503, this.started ? "ok" : "starting");
    if (req.method === "GET" && path === "/metrics") {
      res.writeHead(200, { "Content-Type": this.registry.contentType });
      res.end(await this.registry.metrics());
      return;
    }
    if (req.method === "POST" && path === ADAPTER_EVENTS_PATH && this.adapter?.receive) {
      const chunks: Buffer[] = [];
      let size = 0;
      for await (const c of req) {
        size += (c as Buffer).length;
        if (size > MAX_PUSH_BYTES) return json(res, 413, { code: "RequestTooLarge", message: "over 8 MiB" });
        chunks.push(c as Buffer);
      }
      let body: unknown;
      try {
        body = JSON.parse(Buffer.concat(chunks).toString());
      } catch {
        return json(res, 400, { code: "InvalidEvent", message: "the body is not JSON" });
      }
      try {
        return json(res, 200, await this.adapter.receive(body));
      } catch (err) {
        return json(res, 503, { code: "NotStored", message: String(err) });
      }
    }
    req.resume();
    json(res, 404, { code: "NotFound", message: `no route for ${req.method} ${path}` });
  }

  /** Stops the adapter (in-flight events finish), writes the last status, closes. */
  async stop(): Promise<void> {
    this.started = false;
    await this.adapter?.stop();
    await this.reporter?.stop();
    await this.client?.close();
    await new Promise((r) => (this.server ? this.server.close(() => r(undefined)) : r(undefined)));
  }
}

function text(res: ServerResponse, status: number, body: string): void {
  res.writeHead(status, { "Content-Type": "text/plain" });
  res.end(body);
}

function json(res: ServerResponse, status: number, body: unknown): void {
  res.writeHead(status, { "Content-Type": "application/json" });
  res.end(JSON.stringify(body));
}
