/**
 * Deliveries through the activator's invoke API, so a trigger's events get exactly the
 * admission, concurrency limits, retries and dead letters of direct calls. The outcome is
 * classified once here; adapters decide on it (retry, commit, skip) without reading HTTP.
 */
import { Agent, request } from "undici";
import { InvokeHeaders } from "../protocol/triggers.ts";

export interface Delivery {
  event: unknown;
  /** Sync waits for the function's answer; Async returns once the event is stored. */
  mode: "Sync" | "Async";
  /** The same key never stores two async events (see the protocol module). */
  idempotencyKey?: string;
  /** Source events in it (a Kafka batch has many), for the Trigger's firedCount. */
  count?: number;
}

export type DeliveryOutcome =
  /** Sync: the function answered. Async: the event is stored (or was already: duplicate). */
  | { kind: "delivered"; requestId: string; duplicate: boolean }
  /** Sync: the function ran and failed. */
  | { kind: "functionError"; requestId: string; message: string }
  /** Over a limit (429, 432): try again later; never counts as a failed attempt. */
  | { kind: "throttled"; retryAfterMs: number; message: string }
  /** The platform could not run it now (activator unreachable, 5xx). */
  | { kind: "unavailable"; message: string }
  /** Refused for good (bad event, unknown function): retrying cannot help. */
  | { kind: "rejected"; status: number; message: string };

export interface ActivatorClientConfig {
  activatorUrl: string;
  namespace: string;
  function: string;
  trigger: string;
  /** TRIGGER_SRC in the function. */
  triggerSource: string;
  /** Longest a sync call may take (the function's timeout and a cold start). */
  timeoutMs: number;
  /** The adapter's own ServiceAccount token for the invoke API (rotated: asked per call). */
  token?: () => string | undefined;
}

export class ActivatorClient {
  private readonly cfg: ActivatorClientConfig;
  private readonly agent: Agent;
  private readonly base: string;

  constructor(cfg: ActivatorClientConfig) {
    this.cfg = cfg;
    this.agent = new Agent({ keepAliveTimeout: 4_000, connections: 64 });
    this.base = `${cfg.activatorUrl.replace(/\/$/, "")}/v1/namespaces/${cfg.namespace}/functions/${cfg.function}`;
  }

  async deliver(d: Delivery): Promise<DeliveryOutcome> {
    const headers: Record<string, string> = {
      "content-type": "application/json",
      [InvokeHeaders.invocationType]: d.mode === "Async" ? "Event" : "RequestResponse",
      [InvokeHeaders.trigger]: this.cfg.trigger,
      [InvokeHeaders.triggerSource]: this.cfg.triggerSource,
    };
    if (d.idempotencyKey) headers[InvokeHeaders.idempotencyKey] = d.idempotencyKey;
    Object.assign(headers, this.authorization());
    let status: number;
    let resHeaders: Record<string, string | string[] | undefined>;
    let text: string;
    try {
      const res = await request(`${this.base}/invocations`, {
        method: "POST",
        headers,
        body: JSON.stringify(d.event),
        dispatcher: this.agent,
        headersTimeout: this.cfg.timeoutMs,
        bodyTimeout: this.cfg.timeoutMs,
      });
      status = res.statusCode;
      resHeaders = res.headers;
      text = await res.body.text();
    } catch (err) {
      return { kind: "unavailable", message: `activator unreachable: ${String(err)}` };
    }
    return classify(status, resHeaders, text);
  }

  async deadLetter(d: {
    requestId: string;
    error: string;
    attempts: number;
    event: unknown;
  }): Promise<string> {
    const res = await request(`${this.base}/dead-letters`, {
      method: "POST",
      headers: { "content-type": "application/json", ...this.authorization() },
      body: JSON.stringify({
        requestId: d.requestId,
        errorCode: 500,
        errorMessage: d.error,
        attempts: d.attempts,
        event: d.event,
      }),
      dispatcher: this.agent,
    });
    const text = await res.body.text();
    if (res.statusCode !== 200) throw new Error(`dead letter refused: ${res.statusCode} ${text}`);
    return (JSON.parse(text) as { deadLetter: string }).deadLetter;
  }

  private authorization(): Record<string, string> {
    const token = this.cfg.token?.();
    return token ? { authorization: `Bearer ${token}` } : {};
  }

  close(): Promise<void> {
    return this.agent.close();
  }
}

/**
 * The invoke API's answer as an outcome. E.g. 202 → delivered; 200 with
 * X-Updraft-Function-Error → functionError; 432 with Retry-After: 2 → throttled 2,000 ms;
 * 503 → unavailable; 401/403 (the adapter's own credentials) → unavailable; 435 (no such
 * function) → rejected.
 */
export function classify(
  status: number,
  headers: Record<string, string | string[] | undefined>,
  body: string,
): DeliveryOutcome {
  const requestId = String(headers[InvokeHeaders.requestId] ?? "");
  if (status === 200 || status === 202) {
    if (headers[InvokeHeaders.functionError] !== undefined)
      return { kind: "functionError", requestId, message: body.slice(0, 1024) };
    return { kind: "delivered", requestId, duplicate: headers[InvokeHeaders.duplicate] === "true" };
  }
  if (status === 429 || status === 432) {
    const after = Number(headers["retry-after"]);
    return {
      kind: "throttled",
      retryAfterMs: Number.isFinite(after) && after > 0 ? after * 1000 : 1000,
      message: body.slice(0, 1024),
    };
  }
  // 401/403: the adapter's token or its RoleBinding — the platform's to mend, not the event's
  // fault; retried like an outage, never skipped (a Kafka record refused so would be lost).
  if (status >= 500 || status === 401 || status === 403)
    return { kind: "unavailable", message: `${status}: ${body.slice(0, 1024)}` };
  return { kind: "rejected", status, message: `${status}: ${body.slice(0, 1024)}` };
}
