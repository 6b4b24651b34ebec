/**
 * The activator's view of every function: its spec (from the Function informer) and its
 * ready instances (from the EndpointSlices of its Service), with the requests in flight
 * on each and the requests waiting for room. Slots are handed out in arrival order.
 */
import type { V1EndpointSlice } from "@kubernetes/client-node";
import {
  instancesTrouble,
  type ResolvedFunctionSpec,
  resolveFunctionSpec,
  type UpdraftFunction,
  unservable,
} from "../api/v1alpha1.ts";
import { UpdraftError } from "../lib/errors.ts";
import {
  PANIC_WINDOW_MS,
  type ActivitySample as ProtocolSample,
  STABLE_WINDOW_MS,
} from "../protocol/activity.ts";
import { type Instance, pickInstance } from "./capacity.ts";
import { WaitQueue, type WaitTicket } from "./wait-queue.ts";

/** A request's place on an instance, from acquire() to release(). */
export interface Slot {
  inst: Instance;
  /** When it was taken (ms), for the running requests' mean age. */
  at: number;
}

interface Waiter {
  resolve: (s: Slot) => void;
  reject: (e: Error) => void;
  timer: NodeJS.Timeout;
  ticket?: WaitTicket<Waiter>;
}

const SUBSET_MIN_PER_ACTIVATOR = 4;

/**
 * How long a specialised pool instance is served before its function's EndpointSlices list
 * it: its adoption normally takes a second or two; past this, something went wrong with it
 * (the pod was deleted, or never adopted) and the slices alone are trusted again.
 */
const PIN_TTL_MS = 60_000;

/**
 * How long an instance that announced itself is kept before its function's EndpointSlices
 * list it: the kubelet reports its address a second or so later; past this the pod is gone
 * or broken, and the slices alone are trusted again.
 */
const ANNOUNCED_TTL_MS = 60_000;

export interface FunctionState {
  key: string;
  spec: ResolvedFunctionSpec;
  instances: Instance[];
  waiters: WaitQueue<Waiter>;
  cursor: number;
  /** Requests on an instance now. */
  inFlight: number;
  /** Requests admitted and not finished: on an instance, waiting, or between attempts. */
  held: number;
  /** The requests on an instance now, for their ages. */
  running: Set<Slot>;
  /** Requests admitted since periodStartMs. */
  arrivals: number;
  lastRequestAt: number;
  /** ∫ held dt and ∫ inFlight dt since periodStartMs (request·ms). */
  heldIntegral: number;
  busyIntegral: number;
  lastChangeMs: number;
  periodStartMs: number;
  /** Moving average of the instances' execution time (ms); undefined before a first answer. */
  durationEwmaMs: number | undefined;
  /** The Function's uid: what Events about it name. */
  uid?: string | undefined;
  /** Why no instance can start (its status says so for its current spec): calls are refused at once. */
  unservable?: { reason: string; message: string } | undefined;
  /** What its status says of instances that are not healthy (instancesTrouble), for a call that times out. */
  trouble?: { status: string; reason: string; message: string } | undefined;
  /** A warm-pool claim for it is under way (one at a time). */
  claiming?: boolean;
  /** The replicas' place and the instances list the subset (Instance.mine) was worked out for. */
  subsetPlace?: { count: number; index: number } | undefined;
  subsetOf?: Instance[];
}

/** What takeActivity reports: the protocol's sample, its long-running counts, and what is held now. */
export type ActivitySample = ProtocolSample & {
  longRunning: Record<string, number>;
  /** Requests held right now (what keeps a function from being idle). */
  heldNow: number;
};

export interface TableOptions {
  /** Requests that may wait for one function's instances (then 429 QueueFull). */
  maxWaiting: number;
  /** Requests that may wait for all functions together (then 503 ActivatorOverloaded). */
  maxWaitingTotal?: number;
  /** This activator's part of concurrency.max (undefined: unlimited). */
  maxShare: (max: number | undefined) => number | undefined;
  /** This activator's place among the ready activators (for instance subsetting). */
  place?: () => { count: number; index: number };
  /**
   * Probes a starting instance's /readyz; undefined: wait for the EndpointSlice alone.
   * `uid`: an announced instance's pod, which the address must answer as.
   */
  probe?: (ip: string, uid?: string) => Promise<boolean>;
  /** Called when a request finds no ready instance: scale from zero now. */
  onColdRequest: (namespace: string, name: string) => void;
  /**
   * Takes and specialises a warm-pool instance for a function with none (activator/pool.ts):
   * its address, or undefined when its namespace has none that fits.
   */
  claimPoolInstance?: (
    namespace: string,
    name: string,
    spec: ResolvedFunctionSpec,
  ) => Promise<string | undefined>;
  /** Called when a function is gone (its series, its state elsewhere go with it). */
  onFunctionGone?: (namespace: string, name: string) => void;
  /** The clock (ms); Date.now unless a test drives it. */
  now?: () => number;
}

/** The autoscaler's windows (s), for the long-running counts. */
const LONG_RUNNING_WINDOWS_S = [PANIC_WINDOW_MS / 1000, STABLE_WINDOW_MS / 1000];

/** Weight of the newest execution time in the moving average (about the last 5 count). */
const DURATION_EWMA_ALPHA = 0.2;
/** An instance that answered "at capacity" is skipped for 20 ms, doubling up to 640 ms. */
const BUSY_BACKOFF_MIN_MS = 20;
const BUSY_BACKOFF_MAX_MS = 640;
/** An instance that refused a connection is probed again after 50 ms, doubling up to 1 s. */
const EJECTED_RECHECK_MIN_MS = 50;
const EJECTED_RECHECK_MAX_MS = 1000;

export class FunctionTable {
  private readonly fns = new Map<string, FunctionState>();
  /** Requests waiting for an instance, all functions together. */
  waitingTotal = 0;
  private readonly opts: TableOptions;
  private readonly now: () => number;
  /** Told of every instance that leaves a function's list (onInstanceGone). */
  private readonly instanceGone: Array<(inst: Instance) => void> = [];

  constructor(opts: TableOptions) {
    this.opts = opts;
    this.now = opts.now ?? Date.now;
  }

  /**
   * Calls `listener` with each instance that leaves a function's list — its slices dropped
   * it, it was ejected, or its function went — so that what is held for it (the forwarder's
   * channel) is let go now rather than when it idles out. Calls on it already finish.
   */
  onInstanceGone(listener: (inst: Instance) => void): void {
    this.instanceGone.push(listener);
  }

  private gone(instances: readonly Instance[]): void {
    for (const inst of instances) {
      // A request that took its slot before it left may still send to it: it must not open
      // what the listeners just let go (Forwarder.channelTo).
      inst.left = true;
      for (const listener of this.instanceGone) listener(inst);
    }
  }

  setFunctions(list: readonly UpdraftFunction[]): void {
    const seen = new Set<string>();
    for (const fn of list) {
      const key = `${fn.metadata.namespace}/${fn.metadata.name}`;
      seen.add(key);
      const spec = resolveFunctionSpec(fn.spec);
      const cannot = unservable(fn);
      const st = this.fns.get(key);
      if (st) {
        st.spec = spec;
        st.uid = fn.metadata.uid;
        st.unservable = cannot;
        st.trouble = instancesTrouble(fn);
        // Those waiting for an instance that cannot come hear why now, not at their deadline.
        if (cannot && st.instances.length === 0)
          for (const w of st.waiters.drain()) {
            this.waitingTotal--;
            clearTimeout(w.timer);
            w.reject(notReadyError(key, cannot));
          }
      } else
        this.fns.set(key, {
          key,
          spec,
          uid: fn.metadata.uid,
          unservable: cannot,
          trouble: instancesTrouble(fn),
          instances: [],
          waiters: new WaitQueue(),
          cursor: 0,
          inFlight: 0,
          held: 0,
          running: new Set(),
          arrivals: 0,
          lastRequestAt: 0,
          heldIntegral: 0,
          busyIntegral: 0,
          lastChangeMs: this.now(),
          periodStartMs: this.now(),
          durationEwmaMs: undefined,
        });
    }
    for (const [key, st] of this.fns) {
      if (seen.has(key)) continue;
      for (const w of st.waiters.drain()) {
        this.waitingTotal--;
        clearTimeout(w.timer);
        w.reject(new UpdraftError("FunctionNotFound", `function ${key} was deleted`, { permanent: true }));
      }
      this.fns.delete(key);
      // Requests still running keep their instances; nothing new is sent on its channels.
      this.gone(st.instances);
      const [gone, name] = key.split("/") as [string, string];
      this.opts.onFunctionGone?.(gone, name);
      this.announced.delete(key);
    }
  }

  /** Ready addresses per function from all EndpointSlices labelled updraft.dev/function. */
  /**
   * All EndpointSlices at once (start, and after an informer re-list): every function's
   * instances are rebuilt. Single changes go through applyEndpointSlice, which touches only
   * the function the slice belongs to (at 10,000 functions a full rebuild is milliseconds of
   * blocked event loop per change).
   */
  setEndpointSlices(slices: readonly V1EndpointSlice[]): void {
    this.sliceEntries.clear();
    this.slicesOfFunction.clear();
    this.endpoints = { ready: new Map(), starting: new Map() };
    const keys = new Set<string>();
    for (const s of slices) {
      const key = this.recordSlice(s);
      if (key) keys.add(key);
    }
    for (const key of keys) this.rebuildEndpoints(key);
    // Forget probe results of addresses no longer starting (ready now, or gone).
    const stillStarting = new Set([...this.endpoints.starting.values()].flatMap((x) => [...x]));
    for (const ip of this.probedReady) if (!stillStarting.has(ip)) this.probedReady.delete(ip);
    for (const st of this.fns.values()) this.refresh(st);
  }

  /** One EndpointSlice added, changed or deleted: only its function's instances change. */
  applyEndpointSlice(slice: V1EndpointSlice, deleted: boolean): void {
    const name = `${slice.metadata?.namespace}/${slice.metadata?.name}`;
    const before = this.sliceEntries.get(name)?.key;
    if (before) this.forgetSlice(name, before);
    const after = deleted ? undefined : this.recordSlice(slice);
    for (const key of new Set([before, after])) {
      if (!key) continue;
      const wasStarting = this.endpoints.starting.get(key) ?? new Set<string>();
      this.rebuildEndpoints(key);
      const starting = this.endpoints.starting.get(key) ?? new Set<string>();
      for (const ip of wasStarting) if (!starting.has(ip)) this.probedReady.delete(ip);
      const st = this.fns.get(key);
      if (st) this.refresh(st);
    }
  }

  /** Slices by "namespace/name": their function and addresses. */
  private readonly sliceEntries = new Map<string, { key: string; ready: string[]; starting: string[] }>();
  /** Function key → names of its slices. */
  private readonly slicesOfFunction = new Map<string, Set<string>>();

  /** Notes a slice's addresses under its function; its function's key, if it has one. */
  private recordSlice(s: V1EndpointSlice): string | undefined {
    const fn = s.metadata?.labels?.["updraft.dev/function"];
    if (!fn) return undefined;
    const key = `${s.metadata?.namespace}/${fn}`;
    const name = `${s.metadata?.namespace}/${s.metadata?.name}`;
    const ready: string[] = [];
    const starting: string[] = [];
    for (const e of s.endpoints ?? []) {
      if (e.conditions?.terminating) continue;
      for (const a of e.addresses ?? []) (e.conditions?.ready === false ? starting : ready).push(a);
    }
    this.sliceEntries.set(name, { key, ready, starting });
    let names = this.slicesOfFunction.get(key);
    if (!names) {
      names = new Set();
      this.slicesOfFunction.set(key, names);
    }
    names.add(name);
    return key;
  }

  private forgetSlice(name: string, key: string): void {
    this.sliceEntries.delete(name);
    const names = this.slicesOfFunction.get(key);
    names?.delete(name);
    if (names?.size === 0) this.slicesOfFunction.delete(key);
  }

  /**
   * Warm-pool instances specialised for a function (key → address → when), served at once
   * and kept until the function's EndpointSlices list them (once the pod is adopted) or
   * PIN_TTL_MS passed — whichever is first.
   */
  private readonly pinned = new Map<string, Map<string, number>>();

  /**
   * Instances that announced themselves (key → address → pod UID and when), verified by the
   * caller: probed as starting instances until the function's EndpointSlices list them or
   * ANNOUNCED_TTL_MS passed.
   */
  private readonly announced = new Map<string, Map<string, { uid: string; at: number }>>();

  /**
   * A starting instance of a function announced itself at `ip` (its pod verified as `uid`);
   * false when the function is not known here (yet).
   */
  announce(key: string, ip: string, uid: string): boolean {
    const st = this.fns.get(key);
    if (!st) return false;
    let byIp = this.announced.get(key);
    if (!byIp) {
      byIp = new Map();
      this.announced.set(key, byIp);
    }
    byIp.set(ip, { uid, at: this.now() });
    this.rebuildEndpoints(key);
    this.refresh(st);
    return true;
  }

  /** A cold function asks the pool for an instance, once at a time; the waiting requests get it. */
  private claimPoolInstance(st: FunctionState, ns: string, name: string): void {
    if (st.claiming || !this.opts.claimPoolInstance) return;
    st.claiming = true;
    this.opts
      .claimPoolInstance(ns, name, st.spec)
      .then(
        (ip) => {
          if (ip === undefined || this.fns.get(st.key) !== st) return;
          let pins = this.pinned.get(st.key);
          if (!pins) {
            pins = new Map();
            this.pinned.set(st.key, pins);
          }
          pins.set(ip, this.now());
          this.refresh(st);
        },
        () => undefined, // the claim reports its own errors; the request waits for a plain start
      )
      .finally(() => {
        st.claiming = false;
      });
  }

  /** A function's ready and starting addresses, from its slices. */
  private rebuildEndpoints(key: string): void {
    const ready = new Set<string>();
    const starting = new Set<string>();
    for (const name of this.slicesOfFunction.get(key) ?? []) {
      const e = this.sliceEntries.get(name)!;
      for (const a of e.ready) ready.add(a);
      for (const a of e.starting) starting.add(a);
    }
    // A pinned pool instance the slices now list is theirs from here on.
    const pins = this.pinned.get(key);
    if (pins) {
      for (const ip of pins.keys()) if (ready.has(ip) || starting.has(ip)) pins.delete(ip);
      if (pins.size === 0) this.pinned.delete(key);
    }
    // An announced instance is starting until the slices list it (then it is theirs).
    const announced = this.announced.get(key);
    if (announced) {
      const now = this.now();
      for (const [ip, a] of announced) {
        if (ready.has(ip) || starting.has(ip) || now - a.at > ANNOUNCED_TTL_MS) announced.delete(ip);
        else starting.add(ip);
      }
      if (announced.size === 0) this.announced.delete(key);
    }
    if (ready.size > 0) this.endpoints.ready.set(key, ready);
    else this.endpoints.ready.delete(key);
    if (starting.size > 0) this.endpoints.starting.set(key, starting);
    else this.endpoints.starting.delete(key);
  }

  private endpoints: { ready: Map<string, Set<string>>; starting: Map<string, Set<string>> } = {
    ready: new Map(),
    starting: new Map(),
  };
  /** Addresses of starting instances that answered our own readiness probe. */
  private readonly probedReady = new Set<string>();
  private readonly probing = new Set<string>();

  private refresh(st: FunctionState): void {
    const ips = new Set(this.endpoints.ready.get(st.key) ?? []);
    const pins = this.pinned.get(st.key);
    if (pins) {
      const now = this.now();
      for (const [ip, at] of pins) {
        if (now - at > PIN_TTL_MS) pins.delete(ip);
        else ips.add(ip);
      }
    }
    const starting = this.endpoints.starting.get(st.key) ?? new Set<string>();
    for (const ip of starting) {
      if (this.probedReady.has(ip)) ips.add(ip);
      else this.probe(st, ip);
    }
    for (const ip of this.ejected.get(st.key) ?? []) ips.delete(ip);
    // Keep in-flight counts of instances that stay; requests on removed ones finish on their own.
    const before = st.instances;
    st.instances = [...ips].map((ip) => before.find((i) => i.ip === ip) ?? { ip, inFlight: 0 });
    const left = before.filter((i) => !ips.has(i.ip));
    if (left.length > 0) this.gone(left);
    this.dispatch(st);
  }

  /**
   * A starting instance is probed directly (GET /readyz every 25 ms) so requests waiting for
   * a cold start go to it the moment its shim is ready, not a readiness period plus an
   * EndpointSlice update later (Knative's activator does the same).
   */
  private probe(st: FunctionState, ip: string): void {
    if (this.probing.has(ip) || !this.opts.probe) return;
    this.probing.add(ip);
    const check = this.opts.probe;
    const loop = async () => {
      const deadline = Date.now() + (st.spec.initTimeoutSeconds + 5) * 1000;
      while (Date.now() < deadline && (this.endpoints.starting.get(st.key)?.has(ip) ?? false)) {
        if (await check(ip, this.announced.get(st.key)?.get(ip)?.uid)) {
          this.probedReady.add(ip);
          this.refresh(st);
          break;
        }
        await new Promise((r) => setTimeout(r, 25));
      }
      this.probing.delete(ip);
    };
    void loop();
  }

  get(namespace: string, name: string): FunctionState | undefined {
    return this.fns.get(`${namespace}/${name}`);
  }

  /** Addresses of a function's instances that are listed but not ready yet. */
  startingCount(key: string): number {
    return this.endpoints.starting.get(key)?.size ?? 0;
  }

  all(): IterableIterator<FunctionState> {
    return this.fns.values();
  }

  /**
   * Admits a request: refused with ConcurrencyLimit (432) when this activator's part of
   * concurrency.max is held already; otherwise counted until finish(). Returns its
   * admission time.
   */
  admit(st: FunctionState): number {
    const share = this.opts.maxShare(st.spec.concurrency.max);
    if (share !== undefined && st.held >= share) {
      // Sync calls over the reserved concurrency are refused (432); async events wait elsewhere.
      throw new UpdraftError(
        "ConcurrencyLimit",
        `concurrency limit exceeded: function ${st.key} may run ${st.spec.concurrency.max} invocations at once`,
      );
    }
    const now = this.now();
    this.touch(st, now);
    st.held++;
    st.arrivals++;
    st.lastRequestAt = now;
    return now;
  }

  /**
   * An admitted request is over. `executionMs`: how long the instance ran it (the shim's
   * X-Updraft-Duration-Ms), when it ran.
   */
  finish(st: FunctionState, executionMs?: number): void {
    this.touch(st);
    st.held--;
    if (executionMs !== undefined && Number.isFinite(executionMs) && executionMs >= 0) {
      st.durationEwmaMs =
        st.durationEwmaMs === undefined
          ? executionMs
          : st.durationEwmaMs + DURATION_EWMA_ALPHA * (executionMs - st.durationEwmaMs);
    }
  }

  /**
   * A slot on an instance now, or once one is free, or a coded error at the deadline.
   * `again`: the request had a slot that did not take it (instance gone or at capacity);
   * it goes to the front of the queue, it has waited longest.
   */
  acquire(st: FunctionState, waitMs: number, again = false): Promise<Slot> {
    const i = this.pick(st);
    if (i >= 0 && st.waiters.length === 0) return Promise.resolve(this.take(st, i));
    if (st.instances.length === 0) {
      const [ns, name] = st.key.split("/") as [string, string];
      this.opts.onColdRequest(ns, name);
      this.claimPoolInstance(st, ns, name);
    }
    if (!again && st.waiters.length >= this.opts.maxWaiting) {
      return Promise.reject(
        new UpdraftError("QueueFull", `too many requests waiting for ${st.key} (${this.opts.maxWaiting})`),
      );
    }
    // All functions together: what this activator holds waiting is bounded too.
    if (!again && this.waitingTotal >= (this.opts.maxWaitingTotal ?? Infinity)) {
      return Promise.reject(
        new UpdraftError(
          "ActivatorOverloaded",
          `this activator holds ${this.waitingTotal} waiting requests, its limit`,
        ),
      );
    }
    return new Promise<Slot>((resolve, reject) => {
      const w: Waiter = {
        resolve,
        reject,
        timer: setTimeout(() => {
          if (w.ticket && st.waiters.remove(w.ticket)) this.waitingTotal--;
          reject(
            new UpdraftError(
              "NoInstanceReady",
              `no instance of ${st.key} became ready within ${waitMs} ms (${this.describe(st)})${troubleNote(st)}`,
            ),
          );
        }, waitMs),
      };
      w.ticket = again ? st.waiters.unshift(w) : st.waiters.push(w);
      this.waitingTotal++;
    });
  }

  /**
   * What this activator sees of a function, for an error that says why nothing ran.
   * Example: "instances 10.0.0.7 2/8 busy for 40 ms; ejected none; waiting 3".
   */
  describe(st: FunctionState): string {
    const now = this.now();
    const instances = st.instances.map((i) => {
      const busy = i.busyUntil !== undefined && i.busyUntil > now ? ` busy for ${i.busyUntil - now} ms` : "";
      return `${i.ip} ${i.inFlight}/${st.spec.concurrency.perInstance}${busy}${i.mine === false ? " not ours" : ""}`;
    });
    const listed = [...(this.endpoints.ready.get(st.key) ?? [])];
    const ejected = [...(this.ejected.get(st.key) ?? [])];
    return `instances ${instances.join(", ") || "none"}; listed ready ${listed.join(", ") || "none"}; starting ${this.startingCount(st.key)}; ejected ${ejected.join(", ") || "none"}; waiting ${st.waiters.length}`;
  }

  /**
   * The instance answered "at capacity": another activator filled it (each one counts only
   * its own requests). It is skipped for a short, growing while, then tried again; the
   * waiting requests go to other instances meanwhile, and nothing spins.
   * Example: busy 3 times in a row → skipped 20, 40, then 80 ms.
   */
  markBusy(st: FunctionState, inst: Instance): void {
    inst.busyStreak = (inst.busyStreak ?? 0) + 1;
    const backoff = Math.min(BUSY_BACKOFF_MAX_MS, BUSY_BACKOFF_MIN_MS * 2 ** (inst.busyStreak - 1));
    inst.busyUntil = this.now() + backoff;
    setTimeout(() => this.dispatch(st), backoff + 1).unref?.();
  }

  /**
   * An instance that could not be reached leaves the table now: usually its pod is gone
   * before its EndpointSlice says so. But a live instance can refuse a connection too (its
   * container restarting, a connect timing out on a loaded node), and its slice may then
   * never change again — a function at minInstances keeps the same pod for hours. So the
   * address is ejected, not forgotten: it is probed (GET /readyz) with a growing pause
   * while its slices still list it, and served again the moment it answers.
   * Example: refused at t=0 → probed at 50, 100, 200, 400, 800, 1000, 1000… ms.
   */
  markUnreachable(st: FunctionState, inst: Instance): void {
    const before = st.instances.length;
    st.instances = st.instances.filter((i) => i !== inst);
    // Once per instance: refresh() may have let it go already.
    if (st.instances.length < before) this.gone([inst]);
    this.probedReady.delete(inst.ip);
    this.pinned.get(st.key)?.delete(inst.ip);
    this.eject(st, inst.ip);
    if (st.instances.length === 0) {
      const [ns, name] = st.key.split("/") as [string, string];
      this.opts.onColdRequest(ns, name);
    }
  }

  /** Addresses out of service after a failed connect, by function key, until they answer. */
  private readonly ejected = new Map<string, Set<string>>();

  /** Whether the function's slices (or an announcement) still list the address. */
  private listed(key: string, ip: string): boolean {
    return (
      (this.endpoints.ready.get(key)?.has(ip) ?? false) ||
      (this.endpoints.starting.get(key)?.has(ip) ?? false)
    );
  }

  private eject(st: FunctionState, ip: string): void {
    let ips = this.ejected.get(st.key);
    if (!ips) {
      ips = new Set();
      this.ejected.set(st.key, ips);
    }
    if (ips.has(ip)) return; // its recheck is running already
    ips.add(ip);
    const readmit = () => {
      ips.delete(ip);
      if (ips.size === 0 && this.ejected.get(st.key) === ips) this.ejected.delete(st.key);
    };
    const loop = async () => {
      let pause = EJECTED_RECHECK_MIN_MS;
      for (;;) {
        await new Promise((r) => setTimeout(r, pause).unref?.());
        pause = Math.min(EJECTED_RECHECK_MAX_MS, pause * 2);
        // Gone from its slices (or the function deleted): nothing to bring back.
        if (this.fns.get(st.key) !== st || !this.listed(st.key, ip)) break;
        // Without a probe (tests of the table alone), one pause is the verdict.
        if (!this.opts.probe || (await this.opts.probe(ip).catch(() => false))) break;
      }
      readmit();
      if (this.fns.get(st.key) === st) this.refresh(st);
    };
    void loop();
  }

  /** The instance answered (`took`: it ran the request, so it is not at capacity). */
  release(st: FunctionState, slot: Slot, took = true): void {
    this.touch(st);
    const inst = slot.inst;
    inst.inFlight--;
    st.inFlight--;
    st.running.delete(slot);
    if (took) inst.busyStreak = 0;
    this.dispatch(st);
  }

  /**
   * Which instances this activator sends to: with at least 4 instances per activator, each
   * activator takes its own subset (instances sorted by IP, every n-th), so two activators
   * do not both fill the same instance's perInstance; with fewer, all of them. Worked out
   * when the instances or the replicas change, never per request: each instance carries
   * whether it is ours (Instance.mine).
   * Example: 8 instances .1…8, 2 activators; the one at index 1 takes .2, .4, .6, .8.
   */
  private subset(st: FunctionState): void {
    const place = this.opts.place?.();
    if (st.subsetPlace === place && st.subsetOf === st.instances) return;
    st.subsetPlace = place;
    st.subsetOf = st.instances;
    // Small fleets are shared: a subset of one instance at full load queues without bound
    // (seen: 3 instances for 2 activators made one activator's single instance the bottleneck).
    if (!place || place.count <= 1 || st.instances.length < SUBSET_MIN_PER_ACTIVATOR * place.count) {
      for (const inst of st.instances) inst.mine = true;
      return;
    }
    const order = st.instances.map((i) => i.ip).sort(compareIp);
    const rank = new Map(order.map((ip, k) => [ip, k]));
    for (const inst of st.instances) inst.mine = rank.get(inst.ip)! % place.count === place.index;
  }

  /** Accumulates held × time and busy × time up to now; call before either changes. */
  private touch(st: FunctionState, now = this.now()): void {
    const dt = now - st.lastChangeMs;
    st.heldIntegral += st.held * dt;
    st.busyIntegral += st.inFlight * dt;
    st.lastChangeMs = now;
  }

  /**
   * What this activator saw of a function since the last call, and a new period.
   * held/busy are time averages: 2 requests for the whole second and 1 more for half of
   * it → 2.5. durationMs is the moving average of execution times, but never less than
   * the mean age of the requests running now: when a function that took 5 ms starts
   * taking 3 s, the running requests say so before the first of them answers. (Not the
   * age of waiting ones: time spent waiting for an instance is not work.)
   */
  takeActivity(st: FunctionState, now = this.now()): ActivitySample {
    this.touch(st, now);
    const span = now - st.periodStartMs;
    let ageSum = 0;
    const longRunning: Record<string, number> = {};
    for (const w of LONG_RUNNING_WINDOWS_S) longRunning[w] = 0;
    for (const slot of st.running) {
      const age = now - slot.at;
      ageSum += age;
      for (const w of LONG_RUNNING_WINDOWS_S) if (age > w * 1000) longRunning[w]!++;
    }
    const meanAge = st.running.size > 0 ? ageSum / st.running.size : 0;
    const sample: ActivitySample = {
      arrivals: st.arrivals,
      held: span > 0 ? st.heldIntegral / span : st.held,
      busy: span > 0 ? st.busyIntegral / span : st.inFlight,
      durationMs: Math.max(st.durationEwmaMs ?? 0, meanAge),
      heldNow: st.held,
      longRunning,
      periodMs: span,
    };
    st.heldIntegral = 0;
    st.busyIntegral = 0;
    st.arrivals = 0;
    st.periodStartMs = now;
    return sample;
  }

  private take(st: FunctionState, i: number): Slot {
    const now = this.now();
    this.touch(st, now);
    const inst = st.instances[i]!;
    inst.inFlight++;
    st.inFlight++;
    st.cursor = (i + 1) % st.instances.length;
    const slot = { inst, at: now };
    st.running.add(slot);
    return slot;
  }

  /** The instance for the next request: room left, in this activator's subset, not busy. */
  private pick(st: FunctionState): number {
    this.subset(st);
    return pickInstance(st.instances, st.spec.concurrency.perInstance, st.cursor, this.now());
  }

  private dispatch(st: FunctionState): void {
    while (st.waiters.length > 0) {
      const i = this.pick(st);
      if (i < 0) return;
      const w = st.waiters.shift()!;
      this.waitingTotal--;
      clearTimeout(w.timer);
      w.resolve(this.take(st, i));
    }
  }
}

/** Orders dotted IPv4 addresses numerically: 10.0.0.9 before 10.0.0.10. */
export function compareIp(a: string, b: string): number {
  const pa = a.split(".").map(Number);
  const pb = b.split(".").map(Number);
  for (let k = 0; k < 4; k++) if (pa[k] !== pb[k]) return (pa[k] ?? 0) - (pb[k] ?? 0);
  return 0;
}

/** Where those who may read a Function read why it cannot serve: "kubectl get function a -n team -o yaml". */
function whereToReadWhy(key: string): string {
  const [ns, name] = key.split("/");
  return `(kubectl get function ${name} -n ${ns} -o yaml says why)`;
}

/**
 * What the Function's status says of its failing instances, for the message of a call that
 * timed out: the condition and the kubelet's reason, not its message — a caller may be
 * anyone an Http trigger lets in, and the message names pods and quotes what the instance
 * said; those who may read the Function read it there. Example: "; its status:
 * InstancesHealthy False CrashLoopBackOff (kubectl get function a -n team -o yaml says why)".
 */
export function troubleNote(st: Pick<FunctionState, "trouble" | "key">): string {
  const t = st.trouble;
  return t ? `; its status: InstancesHealthy ${t.status} ${t.reason} ${whereToReadWhy(st.key)}` : "";
}

/**
 * The refusal of a call to a function no instance of which can start: the reason, not the
 * condition's message, for the same reason as troubleNote (the message may name pods,
 * ConfigMaps and Secrets, and quote what an instance printed). Example: "function team/a
 * cannot start an instance: CodeDownloadFailed (kubectl get function a -n team -o yaml says why)".
 */
export function notReadyError(key: string, why: { reason: string }): UpdraftError {
  return new UpdraftError(
    "FunctionNotReady",
    `function ${key} cannot start an instance: ${why.reason} ${whereToReadWhy(key)}`,
  );
}
