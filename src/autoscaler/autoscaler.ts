/**
 * The autoscaler: activators tell it about traffic (POST /v1/activity every second) and
 * about requests waiting for a function at zero (POST /v1/activate, answered at once);
 * a 1 s loop applies decideReplicas to every function and writes the Deployment's scale
 * subresource when the answer differs.
 */

import type { Server } from "node:http";
import {
  AppsV1Api,
  type KubeConfig,
  PatchStrategy,
  setHeaderOptions,
  type V1Deployment,
} from "@kubernetes/client-node";
import express from "express";
import { Counter, Gauge, type Registry } from "prom-client";
import {
  Labels,
  type ResolvedFunctionSpec,
  resolveFunctionSpec,
  type UpdraftFunction,
} from "../api/v1alpha1.ts";
import { errorMessage, UpdraftError } from "../lib/errors.ts";
import type { EventRecorder } from "../lib/events.ts";
import { makeFunctionInformer, makeScopedInformer, type ResilientInformer, type Scope } from "../lib/kube.ts";
import type { Logger } from "../lib/logger.ts";
import { AutoscalerPaths } from "../protocol/activity.ts";
import { functionChildName as childName } from "../protocol/naming.ts";
import {
  decideReplicas,
  PANIC_WINDOW_MS,
  type ScaleDecision,
  type ScaleSpec,
  type ScaleState,
  STABLE_WINDOW_MS,
} from "./decide.ts";
import { type ActivitySample, ConcurrencyWindows } from "./windows.ts";

/** A finite, non-negative number from a report, or 0. */
/**
 * The Deployment's replicas as we last left them: the informer's copy, unless it is older
 * than our last write (a lagging watch would otherwise make us write the same scale again
 * every second — seen: 70 writes for one function with 500 functions on two cores).
 * resourceVersions are compared as numbers when both are (etcd revisions); otherwise the
 * cache is trusted.
 */
export function currentReplicas(
  d: V1Deployment,
  written: { replicas: number; resourceVersion: string } | undefined,
): number {
  const cached = d.spec?.replicas ?? 0;
  const rv = d.metadata?.resourceVersion ?? "";
  if (!written || !/^\d+$/.test(rv) || !/^\d+$/.test(written.resourceVersion)) return cached;
  return BigInt(rv) < BigInt(written.resourceVersion) ? written.replicas : cached;
}

/**
 * What the decision needs of a Function's spec. maxInstances: the Function's own, else the
 * cluster's default (the chart's autoscaler.defaultMaxInstances), else none. Example:
 * no scaling.maxInstances and a default of 100 → 100; maxInstances 500 → 500.
 */
export function scaleSpecOf(spec: ResolvedFunctionSpec, defaultMaxInstances?: number): ScaleSpec {
  const maxInstances = spec.scaling.maxInstances ?? defaultMaxInstances;
  return {
    perInstance: spec.concurrency.perInstance,
    targetUtilization: spec.scaling.targetUtilization,
    minInstances: spec.scaling.minInstances,
    provisioned: spec.concurrency.provisioned,
    ...(maxInstances !== undefined ? { maxInstances } : {}),
    ...(spec.concurrency.max !== undefined ? { maxConcurrency: spec.concurrency.max } : {}),
    scaleToZeroAfterMs: spec.scaling.scaleToZeroAfterSeconds * 1000,
  };
}

function num(v: unknown): number {
  return typeof v === "number" && Number.isFinite(v) && v > 0 ? v : 0;
}

const mergePatch = setHeaderOptions("Content-Type", PatchStrategy.MergePatch);
/** Scale writes in flight at once during a pass. */
const TICK_PARALLELISM = 8;

interface Activity {
  /** Our last scale write: what the cache may not show yet. */
  written?: { replicas: number; resourceVersion: string };
  lastActivityMs: number;
  inFlight: number;
  activationRequested: boolean;
  /** Per-second buckets of observed concurrency, summed over activators. */
  windows: ConcurrencyWindows;
  state: ScaleState;
}

export class Autoscaler {
  private readonly apps: AppsV1Api;
  private readonly functions: ResilientInformer<UpdraftFunction>;
  private readonly deployments: ResilientInformer<V1Deployment>;
  private readonly activity = new Map<string, Activity>();
  private readonly log: Logger;
  private timer: NodeJS.Timeout | undefined;
  private server: Server | undefined;
  private leading = false;
  private ticking = false;
  private readonly reconciling = new Set<string>();
  private readonly decisions: Counter<"reason">;
  private readonly desired: Gauge<"namespace" | "function">;
  private readonly refused: Counter<"code">;
  private readonly observed: Gauge<"namespace" | "function" | "window">;
  private readonly panicking: Gauge<"namespace" | "function">;

  /** The most instances of a Function that sets no scaling.maxInstances (a runaway loop's ceiling). */
  private readonly defaultMaxInstances: number | undefined;

  /** Where each scale decision is told as an Event on its Function; none: not told. */
  private readonly events: EventRecorder | undefined;

  /** Who may report activity and ask for a wake-up (the activators); none: anyone. */
  private readonly reporters:
    | { authenticate(authorization: string | undefined): Promise<unknown> }
    | undefined;

  constructor(
    kc: KubeConfig,
    log: Logger,
    registry: Registry,
    opts: {
      defaultMaxInstances?: number;
      reporters?: { authenticate(authorization: string | undefined): Promise<unknown> };
      /** The namespaces served; undefined: every one. */
      scope?: Scope;
      events?: EventRecorder;
    } = {},
  ) {
    this.log = log;
    this.events = opts.events;
    this.defaultMaxInstances = opts.defaultMaxInstances;
    this.reporters = opts.reporters;
    this.apps = kc.makeApiClient(AppsV1Api);
    this.functions = makeFunctionInformer(kc, log, opts.scope);
    const sel = `${Labels.function},${Labels.managedBy}=updraft`;
    this.deployments = makeScopedInformer<V1Deployment>(
      kc,
      opts.scope,
      {
        clusterPath: "/apis/apps/v1/deployments",
        namespacedPath: (ns) => `/apis/apps/v1/namespaces/${ns}/deployments`,
        listAll: () => this.apps.listDeploymentForAllNamespaces({ labelSelector: sel }),
        listIn: (namespace) => this.apps.listNamespacedDeployment({ namespace, labelSelector: sel }),
      },
      log,
      sel,
    );
    this.decisions = new Counter({
      name: "updraft_autoscaler_scale_total",
      help: "Scale writes by reason",
      labelNames: ["reason"],
      registers: [registry],
    });
    this.observed = new Gauge({
      name: "updraft_autoscaler_observed_concurrency",
      help: "Observed concurrency per function, averaged over the stable (60 s) and panic (6 s) windows",
      labelNames: ["namespace", "function", "window"],
      registers: [registry],
    });
    this.panicking = new Gauge({
      name: "updraft_autoscaler_panic_mode",
      help: "1 while a function is in panic mode",
      labelNames: ["namespace", "function"],
      registers: [registry],
    });
    this.refused = new Counter({
      name: "updraft_autoscaler_refused_reports_total",
      help: "Activity reports and wake-ups refused, by code (Unauthenticated, Forbidden, AuthUnavailable)",
      labelNames: ["code"],
      registers: [registry],
    });
    this.desired = new Gauge({
      name: AUTOSCALER_METRICS.desired,
      help: "Desired instances per function",
      labelNames: ["namespace", "function"],
      registers: [registry],
    });
  }

  async start(port: number): Promise<void> {
    await Promise.all([this.functions.start(), this.deployments.start()]);
    const app = express();
    // Only the activators: asked before the body is read. 401 no or a bad token, 403 another
    // identity (a function pod's, a person's), 503 when the API server cannot be asked.
    app.use((req, res, next) => {
      if (!this.reporters) return next();
      this.reporters.authenticate(req.headers.authorization).then(
        () => next(),
        (err: unknown) => {
          const code = err instanceof UpdraftError ? err.code : "InternalError";
          const status = code === "Unauthenticated" ? 401 : code === "Forbidden" ? 403 : 503;
          this.refused.inc({ code });
          req.resume();
          res.status(status).json({ code, error: err instanceof Error ? err.message : String(err) });
        },
      );
    });
    app.use(express.json({ limit: "4mb" }));
    app.post(AutoscalerPaths.activate, (req, res) => {
      const { namespace, name } = req.body as { namespace?: string; name?: string };
      if (!namespace || !name) {
        res.status(400).json({ error: "namespace and name are required" });
        return;
      }
      if (!this.leading) {
        res.status(503).json({ error: "not the leader" });
        return;
      }
      // Only Functions that exist are woken or measured: a report for anything else would
      // keep windows (and metric series) of names nobody created.
      if (!this.functions.get(name, namespace)) {
        res.status(404).json({ code: "FunctionNotFound", error: `no function ${namespace}/${name}` });
        return;
      }
      const a = this.activityOf(`${namespace}/${name}`);
      a.activationRequested = true;
      a.lastActivityMs = Date.now();
      void this.reconcile(`${namespace}/${name}`);
      res.status(202).json({ ok: true });
    });
    app.post(AutoscalerPaths.activity, (req, res) => {
      const body = req.body as { activator?: string; items?: unknown[] };
      const items = (body.items ?? []) as Array<{ key: string; heldNow?: number } & Partial<ActivitySample>>;
      const now = Date.now();
      const unknown: string[] = [];
      for (const it of items) {
        if (typeof it.key !== "string") continue;
        if (!this.isFunction(it.key)) {
          unknown.push(it.key);
          continue;
        }
        const a = this.activityOf(it.key);
        const heldNow = num(it.heldNow);
        const sample: ActivitySample = {
          arrivals: num(it.arrivals),
          held: num(it.held),
          busy: num(it.busy),
          durationMs: num(it.durationMs),
          periodMs: num(it.periodMs) || 1000,
          longRunning: Object.fromEntries(
            Object.entries(it.longRunning ?? {}).map(([window, n]) => [window, num(n)]),
          ),
        };
        if (sample.arrivals > 0 || heldNow > 0) a.lastActivityMs = now;
        a.inFlight = heldNow;
        a.windows.record(body.activator ?? "", sample, now);
      }
      // The known ones count; the others are named back (a Function the activator knows
      // and this cache not yet is counted from the next report).
      res.json({ ok: true, ...(unknown.length > 0 ? { unknown } : {}) });
    });
    this.server = await new Promise<Server>((resolve) => {
      const s = app.listen(port, () => resolve(s));
    });
  }

  setLeading(leading: boolean): void {
    this.leading = leading;
    if (leading && !this.timer) {
      this.timer = setInterval(() => void this.tick(), 1000);
    } else if (!leading && this.timer) {
      clearInterval(this.timer);
      this.timer = undefined;
    }
  }

  private isFunction(key: string): boolean {
    const slash = key.indexOf("/");
    return slash > 0 && this.functions.get(key.slice(slash + 1), key.slice(0, slash)) !== undefined;
  }

  /**
   * A deleted Function's windows and metric series go with it (level-triggered: whatever
   * the pass finds measured and no longer a Function).
   */
  private forgetDeleted(live: ReadonlySet<string>): void {
    for (const key of this.activity.keys()) {
      if (live.has(key)) continue;
      this.activity.delete(key);
      const [namespace, fn] = key.split("/") as [string, string];
      this.desired.remove({ namespace, function: fn });
      this.panicking.remove({ namespace, function: fn });
      for (const window of ["stable", "panic"]) this.observed.remove({ namespace, function: fn, window });
    }
  }

  private activityOf(key: string): Activity {
    let a = this.activity.get(key);
    if (!a) {
      // First sight: count it as activity, so a function is never scaled down before its grace period.
      a = {
        lastActivityMs: Date.now(),
        inFlight: 0,
        activationRequested: false,
        windows: new ConcurrencyWindows(),
        state: {},
      };
      this.activity.set(key, a);
    }
    return a;
  }

  /**
   * One pass over every function. A pass that outlasts the second (500 first scale-ups
   * write 500 scales) is not overlapped by the next: the next tick is skipped.
   */
  private async tick(): Promise<void> {
    if (this.ticking) return;
    this.ticking = true;
    try {
      const keys = this.functions.list().map((fn) => `${fn.metadata.namespace}/${fn.metadata.name}`);
      this.forgetDeleted(new Set(keys));
      // A few writes in flight at once, so a pass with many scale writes stays short.
      let next = 0;
      const worker = async () => {
        while (next < keys.length) await this.reconcile(keys[next++]!);
      };
      await Promise.all(Array.from({ length: TICK_PARALLELISM }, worker));
    } finally {
      this.ticking = false;
    }
  }

  /** Never two decisions for one function at once: the second would write the same scale again. */
  private async reconcile(key: string): Promise<void> {
    if (this.reconciling.has(key)) return;
    this.reconciling.add(key);
    try {
      await this.reconcileOnce(key);
    } finally {
      this.reconciling.delete(key);
    }
  }

  private async reconcileOnce(key: string): Promise<void> {
    const [namespace, name] = key.split("/") as [string, string];
    const fn = this.functions.get(name, namespace);
    const d = this.deployments.get(childName(name), namespace);
    if (!fn || !d) return;
    const spec = resolveFunctionSpec(fn.spec);
    const a = this.activityOf(key);
    const replicas = currentReplicas(d, a.written);
    const now = Date.now();
    const stableView = a.windows.average(STABLE_WINDOW_MS, now);
    const panicView = a.windows.average(PANIC_WINDOW_MS, now);
    const stable = stableView.concurrency;
    const panicC = panicView.concurrency;
    const decision = decideReplicas({
      spec: scaleSpecOf(spec, this.defaultMaxInstances),
      replicas,
      readyReplicas: d.status?.readyReplicas ?? 0,
      stableConcurrency: stable,
      panicConcurrency: panicC,
      stableClosedLoopConcurrency: stableView.closedLoopConcurrency,
      panicClosedLoopConcurrency: panicView.closedLoopConcurrency,
      recentBusy: panicView.recentBusy,
      arrivalsFollowInstances: panicView.arrivalsFollowInstances,
      lastActivityMs: a.lastActivityMs,
      inFlight: a.inFlight,
      activationRequested: a.activationRequested,
      nowMs: now,
      state: a.state,
    });
    a.state = decision.state;
    this.observed.set({ namespace, function: name, window: "stable" }, stable);
    this.observed.set({ namespace, function: name, window: "panic" }, panicC);
    this.panicking.set({ namespace, function: name }, decision.panic ? 1 : 0);
    a.activationRequested = false;
    this.desired.set({ namespace, function: name }, decision.replicas);
    if (decision.replicas === replicas) return;
    // Read before the write: reports that land while it is under way would show seconds
    // the decision did not see.
    const panicSeconds = a.windows.recentSeconds(PANIC_WINDOW_MS, now);
    try {
      const scale = await this.apps.patchNamespacedDeploymentScale(
        { name: childName(name), namespace, body: { spec: { replicas: decision.replicas } } },
        mergePatch,
      );
      a.written = { replicas: decision.replicas, resourceVersion: scale.metadata?.resourceVersion ?? "" };
      this.decisions.inc({ reason: decision.reason });
      this.events?.record(fn, "Normal", decision.reason, scaleMessage(replicas, decision, stable, panicC));
      this.log.info("scaled", {
        function: key,
        from: replicas,
        to: decision.replicas,
        reason: decision.reason,
        stableConcurrency: Number(stable.toFixed(2)),
        panicConcurrency: Number(panicC.toFixed(2)),
        // Its parts over the panic window: R × D, held (incl. waiting), on instances.
        panicWork: Number(panicView.work.toFixed(2)),
        panicRate: Number(panicView.rate.toFixed(2)),
        panicHeld: Number(panicView.held.toFixed(2)),
        panicBusy: Number(panicView.busy.toFixed(2)),
        closedLoopConcurrency: Number(panicView.closedLoopConcurrency.toFixed(2)),
        arrivalsFollowInstances: panicView.arrivalsFollowInstances,
        // Second by second, for telling a loop from a queue after the fact.
        panicSeconds,
        readyReplicas: d.status?.readyReplicas ?? 0,
        panic: decision.panic,
      });
    } catch (err) {
      this.log.warn("scale failed", { function: key, err: errorMessage(err) });
    }
  }

  async stop(): Promise<void> {
    this.setLeading(false);
    this.server?.close();
    await Promise.all([this.functions.stop(), this.deployments.stop()]);
  }
}

/**
 * A scale decision as its Event says it. Example: "1 → 3 instances: concurrency 2.05 over
 * 60 s, 2.10 over 6 s (panic)".
 */
export function scaleMessage(from: number, d: ScaleDecision, stable: number, panic: number): string {
  return `${from} → ${d.replicas} instances: concurrency ${stable.toFixed(2)} over 60 s, ${panic.toFixed(2)} over 6 s${d.panic ? " (panic)" : ""}`;
}

/** The autoscaler's metric names the dashboard uses. */
export const AUTOSCALER_METRICS = { desired: "updraft_autoscaler_desired_replicas" } as const;
