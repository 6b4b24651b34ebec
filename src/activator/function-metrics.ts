/**
 * Per-function figures, from the activators — every invocation passes through one, and the
 * instances are closed to everything else, so what they tell (execution time, cold-start
 * phases, log) reaches Prometheus here. Prometheus conventions: units in names, `_total`
 * counters, labels bounded by the functions that exist (namespace, function) and a closed
 * set of outcomes and codes; a function's series go when it does.
 *
 * Counters and histograms are written as invocations end; gauges (instances, concurrency)
 * are read from the function table when Prometheus scrapes.
 */
import { Counter, Gauge, Histogram, type Registry } from "prom-client";
import { FunctionSeries } from "../lib/function-series.ts";

export type InvocationOutcome = "success" | "function_error" | "platform_error" | "throttled";

/** What one invocation tells: its outcome and SCF code, its run, its cold start. */
export interface InvocationFacts {
  namespace: string;
  function: string;
  outcome: InvocationOutcome;
  /** SCF's errorCode (200 for success). */
  code: number;
  /** Execution time on the instance (s), when it ran. */
  executionSeconds?: number;
  /** Billed: SCF bills whole milliseconds, at least one, × memory. */
  billedMs?: number;
  memoryMB?: number;
  /** A cold start's phases (s), from SCF's Init Report line. */
  coldStart?: { totalSeconds: number; pullCode?: number; initRuntime?: number; initFunction?: number };
  async: boolean;
}

/** What the gauges read at scrape time, function by function. */
export interface FunctionGaugeSource {
  functions(): Iterable<{
    namespace: string;
    function: string;
    readyInstances: number;
    startingInstances: number;
    /** Requests on instances now (this activator's). */
    running: number;
    /** Requests waiting for an instance now (this activator's). */
    waiting: number;
  }>;
}

/** Execution time up to SCF's longest timeout (900 s). */
export const DURATION_BUCKETS = [
  0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600, 900,
];
export const COLD_START_BUCKETS = [0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 65, 120, 300];

/** The metric names, for the dashboard's test and the docs. */
export const FUNCTION_METRICS = {
  invocations: "updraft_function_invocations_total",
  duration: "updraft_function_duration_seconds",
  coldStarts: "updraft_function_cold_starts_total",
  coldStartSeconds: "updraft_function_cold_start_seconds",
  billed: "updraft_function_billed_gb_seconds_total",
  instances: "updraft_function_instances",
  concurrency: "updraft_function_concurrency",
} as const;

export class FunctionMetrics {
  private readonly invocations: Counter<"namespace" | "function" | "outcome" | "code" | "async">;
  private readonly duration: Histogram<"namespace" | "function">;
  private readonly coldStarts: Counter<"namespace" | "function">;
  private readonly coldStartSeconds: Histogram<"namespace" | "function" | "phase">;
  private readonly billed: Counter<"namespace" | "function">;
  /** Its series per function, removed with the function. */
  private readonly series = new FunctionSeries();
  /** Each function's label sets ("namespace/name" →). */
  private readonly labels = new Map<string, FunctionLabels>();

  constructor(registry: Registry, gauges: FunctionGaugeSource) {
    this.invocations = new Counter({
      name: FUNCTION_METRICS.invocations,
      help: "Invocations by outcome (success, function_error, platform_error, throttled) and SCF code",
      labelNames: ["namespace", "function", "outcome", "code", "async"],
      registers: [registry],
    });
    this.duration = new Histogram({
      name: FUNCTION_METRICS.duration,
      help: "Execution time on the instance, seconds",
      labelNames: ["namespace", "function"],
      buckets: DURATION_BUCKETS,
      registers: [registry],
    });
    this.coldStarts = new Counter({
      name: FUNCTION_METRICS.coldStarts,
      help: "Invocations that waited for a new instance",
      labelNames: ["namespace", "function"],
      registers: [registry],
    });
    this.coldStartSeconds = new Histogram({
      name: FUNCTION_METRICS.coldStartSeconds,
      help: "Cold starts by SCF phase (PullCode, InitRuntime, InitFunction) and in all (Total), seconds",
      labelNames: ["namespace", "function", "phase"],
      buckets: COLD_START_BUCKETS,
      registers: [registry],
    });
    this.billed = new Counter({
      name: FUNCTION_METRICS.billed,
      help: "Billed GB-seconds: billed duration (whole ms, at least 1) × memory",
      labelNames: ["namespace", "function"],
      registers: [registry],
    });
    new Gauge({
      name: FUNCTION_METRICS.instances,
      help: "Instances by state (ready, starting), as this activator sees them",
      labelNames: ["namespace", "function", "state"],
      registers: [registry],
      collect() {
        this.reset();
        for (const f of gauges.functions()) {
          this.set({ namespace: f.namespace, function: f.function, state: "ready" }, f.readyInstances);
          this.set({ namespace: f.namespace, function: f.function, state: "starting" }, f.startingInstances);
        }
      },
    });
    new Gauge({
      name: FUNCTION_METRICS.concurrency,
      help: "Requests in flight through this activator: on an instance (running) or waiting for one (waiting)",
      labelNames: ["namespace", "function", "state"],
      registers: [registry],
      collect() {
        this.reset();
        for (const f of gauges.functions()) {
          this.set({ namespace: f.namespace, function: f.function, state: "running" }, f.running);
          this.set({ namespace: f.namespace, function: f.function, state: "waiting" }, f.waiting);
        }
      },
    });
  }

  /**
   * Counted as each invocation ends: on this hot path the label sets are looked up, never
   * built — each function's are made (and remembered for removal) the first time it is seen.
   */
  observe(f: InvocationFacts): void {
    const l = this.labelsOf(f.namespace, f.function);
    const key = `${f.outcome} ${f.code} ${f.async}`;
    let inv = l.invocations.get(key);
    if (!inv) {
      inv = { ...l.fn, outcome: f.outcome, code: String(f.code), async: String(f.async) };
      l.invocations.set(key, inv);
      this.series.remember(this.invocations, inv);
    }
    this.invocations.inc(inv);
    if (f.executionSeconds !== undefined) this.duration.observe(l.fn, f.executionSeconds);
    if (f.billedMs !== undefined && f.memoryMB !== undefined)
      this.billed.inc(l.fn, (f.billedMs / 1000) * (f.memoryMB / 1024));
    if (f.coldStart) {
      this.coldStarts.inc(l.fn);
      const c = f.coldStart;
      this.coldStartSeconds.observe(l.phases.Total, c.totalSeconds);
      if (c.pullCode !== undefined) this.coldStartSeconds.observe(l.phases.PullCode, c.pullCode);
      if (c.initRuntime !== undefined) this.coldStartSeconds.observe(l.phases.InitRuntime, c.initRuntime);
      if (c.initFunction !== undefined) this.coldStartSeconds.observe(l.phases.InitFunction, c.initFunction);
    }
  }

  /** A function that is gone: every series of it is removed. */
  forget(namespace: string, fn: string): void {
    this.labels.delete(`${namespace}/${fn}`);
    this.series.forget(namespace, fn);
  }

  private labelsOf(namespace: string, name: string): FunctionLabels {
    const key = `${namespace}/${name}`;
    let l = this.labels.get(key);
    if (l) return l;
    const fn = { namespace, function: name };
    const phase = (p: ColdStartPhase) => ({ ...fn, phase: p });
    l = {
      fn,
      invocations: new Map(),
      phases: {
        Total: phase("Total"),
        PullCode: phase("PullCode"),
        InitRuntime: phase("InitRuntime"),
        InitFunction: phase("InitFunction"),
      },
    };
    for (const m of [this.duration, this.coldStarts, this.billed]) this.series.remember(m, fn);
    for (const p of Object.values(l.phases)) this.series.remember(this.coldStartSeconds, p);
    this.labels.set(key, l);
    return l;
  }
}

type ColdStartPhase = "Total" | "PullCode" | "InitRuntime" | "InitFunction";

/** One function's label sets, made once. */
interface FunctionLabels {
  fn: { namespace: string; function: string };
  /** By "outcome code async". */
  invocations: Map<
    string,
    { namespace: string; function: string; outcome: string; code: string; async: string }
  >;
  phases: Record<ColdStartPhase, { namespace: string; function: string; phase: string }>;
}

/**
 * SCF's Init Report line's phases, seconds. Example: "Coldstart: 236ms (PullCode: 70ms
 * InitRuntime: 8ms InitFunction: 158ms)" → 0.07, 0.008, 0.158.
 */
export function coldStartPhases(
  log: string,
): { pullCode: number; initRuntime: number; initFunction: number } | undefined {
  const m = /Coldstart: \d+ms \(PullCode: (\d+)ms InitRuntime: (\d+)ms InitFunction: (\d+)ms\)/.exec(log);
  if (!m) return undefined;
  return {
    pullCode: Number(m[1]) / 1000,
    initRuntime: Number(m[2]) / 1000,
    initFunction: Number(m[3]) / 1000,
  };
}
