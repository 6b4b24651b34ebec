/**
 * The Trigger's status as its adapter sees it: lastFireTime, firedCount, failedCount and the
 * SourceReady condition, written in batches — at most once per interval and only when
 * something changed — never once per event. Counts are deltas added to what the status
 * holds, with the object's resourceVersion (a conflict keeps the deltas for the next
 * write), so replicas of one adapter add up instead of overwriting each other.
 */
import { TriggerConditions, triggerReadyDependents, type UpdraftTrigger } from "../api/v1alpha1.ts";
import { ConditionSet } from "../lib/conditions.ts";
import type { Logger } from "../lib/logger.ts";
import type { SourceState } from "./adapter.ts";

/** The two calls the reporter makes. */
export interface TriggerStatusApi {
  get(namespace: string, name: string): Promise<UpdraftTrigger>;
  replaceStatus(t: UpdraftTrigger): Promise<void>;
}

export interface Pending {
  fired: number;
  failed: number;
  lastFire: number | undefined;
  source: SourceState | undefined;
}

/**
 * The status after adding what an adapter saw since its last write. Pure. E.g. status
 * {firedCount: 10, lastFireTime: 04:00:00} + {fired: 3, lastFire: 04:00:06} →
 * {firedCount: 13, lastFireTime: 04:00:06}; an older lastFire never moves it back.
 */
export function applyPending(t: UpdraftTrigger, p: Pending, now: () => Date): UpdraftTrigger {
  const status = { ...t.status };
  if (p.fired) status.firedCount = (status.firedCount ?? 0) + p.fired;
  if (p.failed) status.failedCount = (status.failedCount ?? 0) + p.failed;
  if (p.lastFire !== undefined) {
    const prev = status.lastFireTime ? Date.parse(status.lastFireTime) : 0;
    if (p.lastFire > prev) status.lastFireTime = new Date(p.lastFire).toISOString().replace(/\.\d{3}Z$/, "Z");
  }
  if (p.source) {
    const conds = new ConditionSet(status.conditions, t.metadata.generation, now);
    if (p.source.ready) conds.markTrue(TriggerConditions.SourceReady, p.source.reason, p.source.message);
    else conds.markFalse(TriggerConditions.SourceReady, p.source.reason, p.source.message);
    // Ready follows at once, by the controller's own rule, so a broker that went down shows
    // in Ready without waiting for the controller's next pass.
    const dependents = triggerReadyDependents(t.spec.type);
    conds.summarize(TriggerConditions.Ready, dependents);
    status.conditions = conds.list([TriggerConditions.Ready, ...dependents]);
  }
  return { ...t, status };
}

export class StatusReporter {
  private readonly api: TriggerStatusApi;
  private readonly namespace: string;
  private readonly name: string;
  private readonly intervalMs: number;
  private readonly log: Logger;
  private readonly now: () => Date;
  private pending: Pending = { fired: 0, failed: 0, lastFire: undefined, source: undefined };
  /** The source state last written, so an unchanged state is not written again. */
  private written: string | undefined;
  private timer: NodeJS.Timeout | undefined;
  private flushing: Promise<void> | undefined;

  constructor(
    api: TriggerStatusApi,
    ref: { namespace: string; name: string },
    intervalMs: number,
    log: Logger,
    now: () => Date = () => new Date(),
  ) {
    this.api = api;
    this.namespace = ref.namespace;
    this.name = ref.name;
    this.intervalMs = intervalMs;
    this.log = log;
    this.now = now;
  }

  fired(n: number, at: number): void {
    this.pending.fired += n;
    this.pending.lastFire = Math.max(this.pending.lastFire ?? 0, at);
  }

  failed(n: number): void {
    this.pending.failed += n;
  }

  source(s: SourceState): void {
    const key = JSON.stringify(s);
    if (key === this.written && this.pending.source === undefined) return;
    this.pending.source = s;
  }

  start(): void {
    this.timer = setInterval(() => void this.flush(), this.intervalMs);
  }

  /** The last write, tried a few times (a conflict with another writer keeps the deltas). */
  async stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    for (let i = 0; i < 5; i++) {
      await this.flush();
      if (!this.pending.fired && !this.pending.failed && this.pending.source === undefined) return;
      await new Promise((r) => setTimeout(r, 200 * (i + 1)));
    }
  }

  /** Writes what is pending, if anything; one write at a time. */
  flush(): Promise<void> {
    this.flushing ??= this.write().finally(() => {
      this.flushing = undefined;
    });
    return this.flushing;
  }

  private async write(): Promise<void> {
    const p = this.pending;
    const sourceKey = p.source ? JSON.stringify(p.source) : undefined;
    if (!p.fired && !p.failed && (p.source === undefined || sourceKey === this.written)) {
      p.source = undefined;
      return;
    }
    this.pending = { fired: 0, failed: 0, lastFire: undefined, source: undefined };
    try {
      const t = await this.api.get(this.namespace, this.name);
      await this.api.replaceStatus(applyPending(t, p, this.now));
      if (sourceKey) this.written = sourceKey;
    } catch (err) {
      // Keep the deltas (and a source state not overtaken by a newer one) for next time.
      this.pending.fired += p.fired;
      this.pending.failed += p.failed;
      if (p.lastFire !== undefined) this.pending.lastFire = Math.max(this.pending.lastFire ?? 0, p.lastFire);
      this.pending.source ??= p.source;
      this.log.warn("trigger status not written; will retry", { err: String(err) });
    }
  }
}
