/**
 * Leader election through a coordination.k8s.io/v1 Lease, as client-go's leaderelection
 * does it: the holder renews every retryPeriod; another candidate takes the Lease only
 * when renewTime + leaseDuration has passed. Optimistic concurrency (resourceVersion)
 * makes two candidates racing for an expired Lease end with one winner.
 */
import type { CoordinationV1Api, V1Lease } from "@kubernetes/client-node";
import { isConflict, isNotFound } from "./errors.ts";
import type { Logger } from "./logger.ts";

export interface LeaseState {
  holder?: string;
  renewTime?: Date;
  leaseDurationSeconds?: number;
}

/**
 * Whether `identity` may write itself into a Lease observed as `lease` at `now`.
 * Example: holder "b", renewed at 10:00:00 for 15 s; at 10:00:14 "a" may not take it, at
 * 10:00:16 it may; "b" itself always may (that is a renewal).
 */
export function canAcquire(lease: LeaseState | undefined, identity: string, now: Date): boolean {
  if (!lease?.holder) return true;
  if (lease.holder === identity) return true;
  if (!lease.renewTime) return true;
  const expires = lease.renewTime.getTime() + (lease.leaseDurationSeconds ?? 15) * 1000;
  return now.getTime() > expires;
}

export interface LeaderElectionConfig {
  namespace: string;
  name: string;
  identity: string;
  leaseDurationSeconds: number;
  renewDeadlineMs: number;
  retryPeriodMs: number;
}

export class LeaderElector {
  private stopped = false;
  private leading = false;
  private timer: NodeJS.Timeout | undefined;
  private lastRenew = 0;

  private readonly api: CoordinationV1Api;
  private readonly cfg: LeaderElectionConfig;
  private readonly log: Logger;
  private readonly callbacks: { onStartedLeading: () => void; onStoppedLeading: () => void };
  private readonly now: () => Date;

  constructor(
    api: CoordinationV1Api,
    cfg: LeaderElectionConfig,
    log: Logger,
    callbacks: { onStartedLeading: () => void; onStoppedLeading: () => void },
    now: () => Date = () => new Date(),
  ) {
    this.api = api;
    this.cfg = cfg;
    this.log = log;
    this.callbacks = callbacks;
    this.now = now;
  }

  get isLeader(): boolean {
    return this.leading;
  }

  start(): void {
    void this.tick();
  }

  /** Gives the Lease up (so a successor need not wait for it to expire) and stops. */
  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    if (!this.leading) return;
    this.leading = false;
    try {
      const lease = await this.read();
      if (lease?.spec?.holderIdentity === this.cfg.identity) {
        lease.spec.holderIdentity = undefined;
        lease.spec.renewTime = undefined;
        await this.api.replaceNamespacedLease({
          namespace: this.cfg.namespace,
          name: this.cfg.name,
          body: lease,
        });
      }
    } catch (err) {
      this.log.warn("could not release lease", { err: String(err) });
    }
  }

  private async tick(): Promise<void> {
    if (this.stopped) return;
    let ok = false;
    try {
      ok = await this.tryAcquireOrRenew();
    } catch (err) {
      this.log.warn("leader election attempt failed", { err: String(err) });
    }
    const nowMs = this.now().getTime();
    if (ok) {
      this.lastRenew = nowMs;
      if (!this.leading) {
        this.leading = true;
        this.log.info("became leader", { lease: `${this.cfg.namespace}/${this.cfg.name}` });
        this.callbacks.onStartedLeading();
      }
    } else if (this.leading && nowMs - this.lastRenew > this.cfg.renewDeadlineMs) {
      this.leading = false;
      this.log.error("lost leadership", { lease: `${this.cfg.namespace}/${this.cfg.name}` });
      this.callbacks.onStoppedLeading();
    }
    if (!this.stopped) {
      this.timer = setTimeout(() => void this.tick(), this.cfg.retryPeriodMs);
      this.timer.unref();
    }
  }

  private async read(): Promise<V1Lease | undefined> {
    try {
      return await this.api.readNamespacedLease({ namespace: this.cfg.namespace, name: this.cfg.name });
    } catch (err) {
      if (isNotFound(err)) return undefined;
      throw err;
    }
  }

  private async tryAcquireOrRenew(): Promise<boolean> {
    const now = this.now();
    const renewTime = now.toISOString().replace("Z", "000Z"); // MicroTime wants microseconds
    const lease = await this.read();
    if (!lease) {
      try {
        await this.api.createNamespacedLease({
          namespace: this.cfg.namespace,
          body: {
            apiVersion: "coordination.k8s.io/v1",
            kind: "Lease",
            metadata: { name: this.cfg.name, namespace: this.cfg.namespace },
            spec: {
              holderIdentity: this.cfg.identity,
              leaseDurationSeconds: this.cfg.leaseDurationSeconds,
              acquireTime: renewTime as unknown as Date,
              renewTime: renewTime as unknown as Date,
              leaseTransitions: 0,
            },
          },
        });
        return true;
      } catch (err) {
        if (isConflict(err)) return false;
        throw err;
      }
    }
    const state: LeaseState = {
      holder: lease.spec?.holderIdentity ?? undefined,
      renewTime: lease.spec?.renewTime ? new Date(lease.spec.renewTime) : undefined,
      leaseDurationSeconds: lease.spec?.leaseDurationSeconds,
    };
    if (!canAcquire(state, this.cfg.identity, now)) return false;
    const spec = lease.spec ?? {};
    if (state.holder !== this.cfg.identity) {
      spec.acquireTime = renewTime as unknown as Date;
      spec.leaseTransitions = (spec.leaseTransitions ?? 0) + 1;
    }
    spec.holderIdentity = this.cfg.identity;
    spec.leaseDurationSeconds = this.cfg.leaseDurationSeconds;
    spec.renewTime = renewTime as unknown as Date;
    lease.spec = spec;
    try {
      await this.api.replaceNamespacedLease({
        namespace: this.cfg.namespace,
        name: this.cfg.name,
        body: lease,
      });
      return true;
    } catch (err) {
      if (isConflict(err)) return false;
      throw err;
    }
  }
}
