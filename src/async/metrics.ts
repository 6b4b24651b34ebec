/**
 * The async queue's figures (Prometheus): each function's backlog and the age of its oldest
 * event (read from JetStream when scraped, for the functions this replica consumes — every
 * replica of a function reads the same durable consumer, so a dashboard takes the max),
 * retries by kind, and events that ended without success by how.
 */
import { Counter, Gauge, type Registry } from "prom-client";
import { FunctionSeries } from "../lib/function-series.ts";

export const ASYNC_METRICS = {
  backlog: "updraft_async_backlog_events",
  oldest: "updraft_async_oldest_event_age_seconds",
  retries: "updraft_async_retries_total",
  failures: "updraft_async_failed_events_total",
} as const;

/** What the dispatcher tells as events move. */
export interface AsyncFigures {
  retried(namespace: string, fn: string, kind: "user_error" | "platform_error"): void;
  /** An event that ended without success: dead-lettered (to a target) or failed (none). */
  ended(namespace: string, fn: string, how: "dead_lettered" | "failed", reason: string): void;
}

/** What the backlog gauges read at scrape time. */
export interface BacklogSource {
  backlogs(): Promise<
    Array<{ namespace: string; function: string; events: number; oldestAgeSeconds: number }>
  >;
}

export class AsyncMetrics implements AsyncFigures {
  private readonly retries: Counter<"namespace" | "function" | "kind">;
  private readonly failures: Counter<"namespace" | "function" | "how" | "reason">;
  /** Its series per function, removed with the function. */
  private readonly series = new FunctionSeries();

  constructor(registry: Registry, source: BacklogSource) {
    this.retries = new Counter({
      name: ASYNC_METRICS.retries,
      help: "Async events sent back to be tried again, by the failure that made them (user_error, platform_error)",
      labelNames: ["namespace", "function", "kind"],
      registers: [registry],
    });
    this.failures = new Counter({
      name: ASYNC_METRICS.failures,
      help: "Async events that ended without success: dead_lettered (to the function's target) or failed (no target), by reason",
      labelNames: ["namespace", "function", "how", "reason"],
      registers: [registry],
    });
    // One read of JetStream serves both gauges: the oldest's collect reuses the backlog's.
    let last: Promise<Awaited<ReturnType<BacklogSource["backlogs"]>>> | undefined;
    const read = () => {
      last ??= source.backlogs().finally(() => setTimeout(() => (last = undefined), 1000));
      return last;
    };
    new Gauge({
      name: ASYNC_METRICS.backlog,
      help: "Async events not yet acknowledged: waiting, running, or waiting to be retried",
      labelNames: ["namespace", "function"],
      registers: [registry],
      async collect() {
        this.reset();
        for (const b of await read().catch(() => []))
          this.set({ namespace: b.namespace, function: b.function }, b.events);
      },
    });
    new Gauge({
      name: ASYNC_METRICS.oldest,
      help: "Age of the oldest async event not yet acknowledged, seconds (0: none)",
      labelNames: ["namespace", "function"],
      registers: [registry],
      async collect() {
        this.reset();
        for (const b of await read().catch(() => []))
          this.set({ namespace: b.namespace, function: b.function }, b.oldestAgeSeconds);
      },
    });
  }

  retried(namespace: string, fn: string, kind: "user_error" | "platform_error"): void {
    const labels = { namespace, function: fn, kind };
    this.series.remember(this.retries, labels);
    this.retries.inc(labels);
  }

  ended(namespace: string, fn: string, how: "dead_lettered" | "failed", reason: string): void {
    const labels = { namespace, function: fn, how, reason };
    this.series.remember(this.failures, labels);
    this.failures.inc(labels);
  }

  /** A function that is gone: its series go. */
  forget(namespace: string, fn: string): void {
    this.series.forget(namespace, fn);
  }
}
