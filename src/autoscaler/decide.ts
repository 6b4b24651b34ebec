/**
 * The scale decision, pure (docs/data-path.md, autoscaler): a function of the spec, the metric
 * windows, the previous state and the clock.
 *
 * desired = ceil(observed concurrency / (perInstance × targetUtilization)), where observed
 * concurrency is the time-averaged number of requests in flight (= requests/s × average
 * duration, Little's law), averaged over a 60 s stable window and a 6 s panic window.
 * Example: 10 requests/s of 1.4 s each → concurrency 14; perInstance 4, target 0.7 →
 * 14 / 2.8 = 5 instances.
 *
 * Panic: when the panic window asks for ≥ 2× the ready instances, follow the panic window
 * and never scale down until it has been calm for a whole stable window (60 s).
 * Tolerance: in panic, no scale-up within 10 % of what the current instances are sized for.
 * Rates: at most ×1000 up and ÷2 down per decision. Clamps: [floor, maxInstances] and
 * ceil(concurrency.max / perInstance), with floor = max(minInstances, provisioned).
 * Zero: only after scaleToZeroAfterSeconds with no traffic and nothing in flight.
 */
import { PANIC_WINDOW_MS, STABLE_WINDOW_MS } from "../protocol/activity.ts";

export interface ScaleSpec {
  perInstance: number;
  targetUtilization: number;
  minInstances: number;
  provisioned: number;
  maxInstances?: number;
  maxConcurrency?: number;
  scaleToZeroAfterMs: number;
}

export interface ScaleState {
  /** Since when the function is panicking (undefined: not panicking). */
  panicSinceMs?: number;
  /** The last time the panic window asked for ≥ 2× the ready instances. */
  lastPanicTriggerMs?: number;
  /** Since when every wanted instance is ready (undefined: some are starting). */
  settledSinceMs?: number;
}

export interface ScaleInput {
  spec: ScaleSpec;
  replicas: number;
  readyReplicas: number;
  /** Averages of observed concurrency over the windows. */
  stableConcurrency: number;
  panicConcurrency: number;
  /**
   * The same, counting what waits when the windows look like a closed loop (windows.ts);
   * taken only while no instance is starting. Absent: as the plain figures.
   */
  stableClosedLoopConcurrency?: number;
  panicClosedLoopConcurrency?: number;
  /** Requests on instances over the last 3 s (the closed loop's seconds), all activators. */
  recentBusy?: number;
  /**
   * Over those seconds an instance joined and arrivals rose with it while what is held stayed
   * level (windows.ts): a loop, told by its work following the instances — the loop figures
   * then count while instances still start.
   */
  arrivalsFollowInstances?: boolean;
  lastActivityMs: number;
  inFlight: number;
  activationRequested: boolean;
  nowMs: number;
  state: ScaleState;
}

export interface ScaleDecision {
  replicas: number;
  reason: string;
  panic: boolean;
  state: ScaleState;
}

export { PANIC_WINDOW_MS, STABLE_WINDOW_MS };
export const PANIC_THRESHOLD = 2;
export const MAX_SCALE_UP_RATE = 1000;
export const MAX_SCALE_DOWN_RATE = 2;
/**
 * In panic, no scale-up while the panic window's load is within 10 % of what the current
 * instances are sized for (the HorizontalPodAutoscaler's tolerance). Counting arrivals
 * over 6 s is noisy by about one request per activator: R·D = 2 reads 2.17 now and then,
 * ceil(2.17 / 0.7) = 4 where 3 is right, and panic never scales down for a minute.
 * Example: 3 instances at target 0.7 are sized for 2.1; up to 2.31 keeps 3. Outside
 * panic the 60 s window is precise enough, and the formula holds exactly (6.0 at 0.7 →
 * 9 instances, where a tolerance would keep 8).
 */
export const TOLERANCE = 0.1;
/**
 * Every slot taken: requests on instances at least 85 % of ready × perInstance over the
 * last 3 s. (A closed loop leaves a slot free only between an answer and the client's next
 * request: 10 clients on 2 instances of a 0.5 s function read about 1.97 busy of 2.)
 */
export const SATURATED = 0.85;
/**
 * Settled for as long as a loop is judged on (the windows' last 3 s), so that none of those
 * seconds held a cold start's waiting. Example: 2/s of 1 s, the 3rd instance ready at
 * 6.5 s after a slow start; at 7 s the last 3 s still hold the queue that built up while
 * it started, all 3 instances busy working it off — a loop by every other sign, and it
 * asked for more than 4 of 3 (CI). From 9.5 s the queue is gone or visibly shrinking.
 */
export const SETTLED_FOR_MS = 3000;

export function decideReplicas(i: ScaleInput): ScaleDecision {
  const s = i.spec;
  const floor = Math.max(s.minInstances, s.provisioned);
  const capByConcurrency =
    s.maxConcurrency !== undefined ? Math.ceil(s.maxConcurrency / s.perInstance) : Infinity;
  const ceiling = Math.min(s.maxInstances ?? Infinity, capByConcurrency);
  const clamp = (n: number) => Math.max(floor, Math.min(n, ceiling));
  const target = s.perInstance * s.targetUtilization;

  // Requests that wait while every wanted instance has been ready for the 3 s the loop is
  // judged on and every slot on them is taken are waiting for capacity, not for a cold start: in a closed loop they are the
  // demand (10 clients on 2 ready instances of 2, both full → 10, not 2). While instances
  // start, waiting is a cold start's; while slots are free, waiting is a moment's (an
  // instance that answered "at capacity" to another activator, a request between two
  // attempts) — seen: a steady open load on 3 instances, 2 of them busy, read as a loop
  // and asked for 10. Unless the arrivals followed an instance that joined: then the
  // waiting is a loop's whatever is starting (an open load's arrivals do not rise with its
  // instances), and waiting for the instances to settle between steps took 36 s to reach 15.
  const settled = i.replicas > 0 && i.readyReplicas >= i.replicas;
  const settledSinceMs = settled ? (i.state.settledSinceMs ?? i.nowMs) : undefined;
  const settledLongEnough = settledSinceMs !== undefined && i.nowMs - settledSinceMs >= SETTLED_FOR_MS;
  const saturated =
    i.recentBusy !== undefined &&
    i.readyReplicas > 0 &&
    i.recentBusy >= SATURATED * i.readyReplicas * s.perInstance;
  const closedLoop = (settledLongEnough && saturated) || i.arrivalsFollowInstances === true;
  const stableC = closedLoop
    ? Math.max(i.stableConcurrency, i.stableClosedLoopConcurrency ?? 0)
    : i.stableConcurrency;
  const panicC = closedLoop
    ? Math.max(i.panicConcurrency, i.panicClosedLoopConcurrency ?? 0)
    : i.panicConcurrency;
  const wantStable = Math.ceil(stableC / target - 1e-9);
  const wantPanic = Math.ceil(panicC / target - 1e-9);
  const base = Math.max(i.readyReplicas, 1);

  // Panic mode: entered when the short window wants ≥ 2× what is ready; left after a
  // whole stable window without that trigger.
  const state: ScaleState = { ...i.state, settledSinceMs };
  if (wantPanic / base >= PANIC_THRESHOLD && panicC > 0) {
    state.lastPanicTriggerMs = i.nowMs;
    state.panicSinceMs ??= i.nowMs;
  } else if (
    state.panicSinceMs !== undefined &&
    i.nowMs - (state.lastPanicTriggerMs ?? 0) >= STABLE_WINDOW_MS
  ) {
    state.panicSinceMs = undefined;
  }
  const panic = state.panicSinceMs !== undefined;

  // Requests waiting at zero wake it, whether or not the activator's call got through
  // (seen: an activation lost while the autoscaler was being replaced left a request
  // waiting 68 s; the demand windows read 0, nothing having run to measure).
  if ((i.activationRequested || i.inFlight > 0) && i.replicas === 0) {
    return { replicas: Math.max(1, clamp(Math.max(1, wantPanic))), reason: "ScaleFromZero", panic, state };
  }

  // No traffic and nothing in flight for the grace period: straight to the floor (the
  // windows may still remember old load; idleness is the stronger fact).
  // Idleness also ends a panic: a burst that is over leaves nothing to protect.
  const idle = i.inFlight === 0 && i.nowMs - i.lastActivityMs > s.scaleToZeroAfterMs;
  if (idle) {
    const replicas = floor;
    const reason = replicas === i.replicas ? "Steady" : replicas === 0 ? "ScaleToZero" : "ScaleToFloor";
    return { replicas, reason, panic: false, state: {} };
  }

  let want = panic ? Math.max(wantPanic, i.replicas) : wantStable;
  if (panic && i.replicas > 0 && panicC / (i.replicas * target) <= 1 + TOLERANCE) want = i.replicas;
  // Rate limits relative to what is ready (Knative's defaults).
  want = Math.min(want, Math.ceil(MAX_SCALE_UP_RATE * base));
  if (!panic) want = Math.max(want, Math.floor(i.replicas / MAX_SCALE_DOWN_RATE));
  if (want === 0 && i.replicas > 0) want = 1; // traffic is recent: keep one warm until idle

  const replicas = clamp(want);
  let reason = "Steady";
  if (replicas > i.replicas)
    reason = replicas === floor && want < floor ? "BelowFloor" : panic ? "PanicScaleUp" : "ScaleUp";
  else if (replicas < i.replicas)
    reason = replicas === 0 ? "ScaleToZero" : replicas === floor ? "ScaleToFloor" : "ScaleDown";
  return { replicas, reason, panic, state };
}
