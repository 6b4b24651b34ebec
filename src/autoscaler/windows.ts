/**
 * Observed concurrency over time (docs/data-path.md: requests per second × average
 * duration, Little's law). Each activator reports, every second, per function: requests
 * admitted (arrivals), the time-averaged number it held (on an instance or waiting: held),
 * the time-averaged number on an instance (busy) and the expected execution time
 * (durationMs), each over its report period (periodMs, about 1 s). R is the sum of the
 * activators' arrivals; D the largest of their estimates (the function's duration). A report counts in
 * the second it arrives. A window divides each activator's reports by the time they
 * cover, so a late timer that puts two reports in one second counts neither twice nor
 * zero times; but by no less than the window less a second (and never more seconds than
 * the function has been observed), so an activator that stopped reporting fades out.
 *
 * concurrency = max(long-running, min(R × D, held)), and closedLoopConcurrency = held of the
 * last 3 s when they look like a closed loop (below):
 * - R × D is the work arriving: it leaves out the time requests wait for an instance, so
 *   a cold start does not inflate it. R = 2/s of D = 1 s, waiting 0.8 s for instances to
 *   start → held 3.6, R × D = 2, and 2 it is (3 instances at 0.7, not 6).
 * - held caps it: a one-off burst of 100 requests of 10 s is 100 requests, not the
 *   100 × 10 s / 6 s = 167 that R × D says over a 6 s window.
 * - long-running floors it: a request of 100 s that arrived before the window began is
 *   still running on an instance, though it is not an arrival of the window. Not all
 *   that runs (busy): while instances work off a backlog they are all busy, and sizing
 *   for that catch-up overshoots (seen: a step to R·D = 4 had 5.6 busy and 5.3 waiting
 *   over 6 s, and busy asked for 9 instances instead of 6).
 * - closed loop: clients that wait for an answer before sending again (10 clients each
 *   calling a 0.5 s function in a loop) arrive only as fast as answers come back, so R × D
 *   equals what is busy whatever the demand — R × D = 2 on 2 instances, with 8 more waiting
 *   — and sizing by it grows the instances by 1/target per step (39 s to reach 15). Such a
 *   loop shows as arrivals that match the work done (R × D within 20 % of busy) while
 *   requests still wait (held ≥ 1.5 × busy) over the last 3 s: then what is held is the
 *   demand (10 → 15 instances at target 0.7). A cold start's waiting mostly has R × D
 *   above busy (arrivals outrun the few ready instances), a backlog being worked off below
 *   it (busy catches up on old arrivals) — but on its way from one to the other an open
 *   loop passes through R × D = busy on its way (seen: a step to 6 instances asked for
 *   26), so held and busy must also have stayed level over those seconds (a loop's
 *   clients stay; a queue grows or drains), and the decision uses it only when no
 *   instance is starting — or when the arrivals rose with an instance that joined while
 *   held stayed level (`followed`): a loop's clients send again as soon as they are
 *   answered, an open load's arrivals do not care how many instances there are.
 */
import type { ActivitySample } from "../protocol/activity.ts";

export const CLOSED_LOOP_WORK_TOLERANCE = 0.2;
/** The seconds a closed loop is judged on (the most recent of the window). */
export const CLOSED_LOOP_SECONDS = 3;
/** Level: the largest of those seconds within 15 % above the smallest. */
const LEVEL_RATIO = 1.15;
/**
 * An instance joined: busy rose by at least half a request over those seconds (one
 * instance of perInstance 1 joining mid-second reads +0.5 in that second, +1 in the next).
 */
const JOINED_BUSY_RISE = 0.5;
/**
 * Arrivals followed: R × D rose by at least half as much as busy. A loop's arrivals rise
 * with its answers (busy 2 → 3 on a 0.5 s function: arrivals 4/s → 6/s, R × D 2 → 3); an
 * open load's stay where they were (busy 4 → 5 under 4/s: R × D stays 4).
 */
const FOLLOWED_WORK_RISE = 0.5;
/**
 * And by at least one whole request per second: a steady 2/s reads 2.3 in a second whose
 * report covered 0.87 s, which at D = 1 s is a rise of 0.3 — as much as half an instance
 * joining asks for (seen: an open 2/s of 1 s read as a loop as its 2nd instance joined,
 * and asked for 8 where 3 are needed).
 */
const FOLLOWED_MIN_RATE_RISE = 1;
/**
 * The seconds the following is judged on, compared half against half: a report that
 * takes one arrival more makes its second read 5/s of a steady 4/s and the next 3/s, so one
 * second against one is a rise of a whole request from nothing (seen: a step of 4/s read
 * 4, 4, 5 as its 6th instance joined and asked for 21 of 6); two against two halve that,
 * and held must have stayed level over all four (a queue that grew 12 → 14.5 in them is
 * no loop's).
 */
export const FOLLOWED_SECONDS = 4;
/**
 * Held is judged level over more seconds than the loop's 3 or the following's 4: the panic
 * window's 6. A queue that grew while instances started and stands once capacity meets
 * the arrivals reads level over 4 s (2/s of 1 s: held 3, 4, 5 as the 1st instance serves
 * alone, then 5.2, 5.1, 5.3 on 2 instances) — and as the 3rd joins, a report's jitter (1, 2
 * then 3, 2/s) reads as arrivals following it; once all 3 are ready, the queue they work
 * off reads as a loop's waiting for a second or two of the 3 (both seen: the steady test
 * asked for 7 of 3, under load). Over 6 s that queue's growth shows; a loop's clients were
 * all waiting from their start. A first second below the next is left out: the loop's
 * clients arriving within it.
 */
export const HELD_LEVEL_SECONDS = 6;
export const CLOSED_LOOP_HELD_RATIO = 1.5;

const level = (xs: number[], span: number) =>
  xs.length >= Math.min(2, span) && Math.min(...xs) > 0 && Math.max(...xs) <= LEVEL_RATIO * Math.min(...xs);

/**
 * Held (over the last 6 s) and busy (over the last 3) stayed level, second by second (within 15 % of each other): a loop's
 * clients stay in the system, where an open loop's queue grows (a cold start) or shrinks (a
 * backlog worked off) — and a step to 6 instances passes through R × D = busy on the way,
 * with its queue draining 14, 12, 10. (Busy level too: a step whose queue stands still for
 * 3 s while its instances come up — R × D = 4, held 11 on 4 instances, the 5th joining — is
 * told from a loop only by the instances' work changing under it; without this a step
 * asked for 20 of 6.)
 */
function steady(seconds: Second[], heldSeconds: number[], span: number): boolean {
  return (
    level(heldSeconds, span) &&
    level(
      seconds.map((x) => x.busy),
      span,
    )
  );
}

/**
 * Over the last 4 s (the first half against the second) an instance joined (busy rose by
 * ≥ 0.5), arrivals rose with it (R × D by at least half as much, and by a whole request per
 * second) and held stayed level over the last 6 s: only a loop's work follows its instances. Example, 10
 * clients on a 0.5 s function as the 3rd instance joins: held 10, 10, 10, 10; busy 2, 2,
 * 3, 3; R 4, 4, 6, 6/s → R × D 2 → 3: followed. A step of 4/s of 1 s as its 5th joins under
 * a standing queue: held 11, 10.7, 10.5, 10; busy 4, 4, 4.5, 5; R × D 4 throughout: not.
 */
function followed(seconds: Second[], heldSeconds: number[], durationS: number): boolean {
  if (seconds.length < 2) return false;
  const half = Math.floor(seconds.length / 2);
  const mean = (xs: Second[], f: (x: Second) => number) => xs.reduce((a, x) => a + f(x), 0) / xs.length;
  const before = seconds.slice(0, half);
  const after = seconds.slice(seconds.length - half);
  const busyRise = mean(after, (x) => x.busy) - mean(before, (x) => x.busy);
  const rateRise = mean(after, (x) => x.rate) - mean(before, (x) => x.rate);
  const workRise = rateRise * durationS;
  return (
    busyRise >= JOINED_BUSY_RISE &&
    workRise >= FOLLOWED_WORK_RISE * busyRise &&
    rateRise >= FOLLOWED_MIN_RATE_RISE &&
    level(heldSeconds, seconds.length)
  );
}

/** Held per second over the level seconds, less a first second below the next (see above). */
function heldForLevel(seconds: Second[]): number[] {
  const held = seconds.map((x) => x.held);
  return held.length > 2 && (held[0] as number) < (held[1] as number) ? held.slice(1) : held;
}

/** Requests that wait while arrivals only keep pace with what is served: a closed loop. */
export function isClosedLoop(work: number, held: number, busy: number): boolean {
  return (
    busy > 0 &&
    held >= CLOSED_LOOP_HELD_RATIO * busy &&
    Math.abs(work - busy) <= CLOSED_LOOP_WORK_TOLERANCE * busy
  );
}

export type { ActivitySample } from "../protocol/activity.ts";

/** One activator's reports within one second: arrivals, held/busy × seconds, seconds covered. */
interface Bucket {
  arrivals: number;
  heldSeconds: number;
  busySeconds: number;
  coveredSeconds: number;
}

export interface WindowView {
  concurrency: number;
  /**
   * What the demand is if the waiting is not a cold start's: held over the last 3 s when
   * they look like a closed loop, else the same as concurrency. The decision takes it only
   * while no instance is starting (ready = desired), when waiting cannot be a cold start's.
   */
  closedLoopConcurrency: number;
  held: number;
  busy: number;
  /** R × D: arrivals per second × expected duration (s). */
  work: number;
  /** R: arrivals per second. */
  rate: number;
  /** Requests on instances, time-averaged over the last 3 s (what a closed loop is judged on). */
  recentBusy: number;
  /**
   * Over the last 3 s an instance joined, arrivals rose with it and what is held stayed
   * level: the work follows the instances, which only a closed loop's does — the loop
   * figure then holds whether or not instances are still starting.
   */
  arrivalsFollowInstances: boolean;
}

/** One second of all activators' reports: time-averaged held and busy, arrivals per second. */
interface Second {
  /** Which second (epoch seconds). */
  at: number;
  held: number;
  busy: number;
  rate: number;
}

export class ConcurrencyWindows {
  private readonly seconds = new Map<number, Map<string, Bucket>>();
  /** Each activator's latest expected duration: its most informed estimate. */
  private readonly latestDurationMs = new Map<string, number>();
  private readonly latestLongRunning = new Map<string, Record<string, number>>();
  private firstSecond: number | undefined;
  private readonly keepMs: number;

  constructor(keepMs = 60_000) {
    this.keepMs = keepMs;
  }

  record(activator: string, sample: ActivitySample, nowMs: number): void {
    const s = Math.floor(nowMs / 1000);
    this.firstSecond ??= s;
    let bucket = this.seconds.get(s);
    if (!bucket) {
      bucket = new Map();
      this.seconds.set(s, bucket);
    }
    const b = bucket.get(activator) ?? { arrivals: 0, heldSeconds: 0, busySeconds: 0, coveredSeconds: 0 };
    b.coveredSeconds += sample.periodMs / 1000;
    b.arrivals += sample.arrivals;
    b.heldSeconds += (sample.held * sample.periodMs) / 1000;
    b.busySeconds += (sample.busy * sample.periodMs) / 1000;
    bucket.set(activator, b);
    this.latestDurationMs.set(activator, sample.durationMs);
    this.latestLongRunning.set(activator, sample.longRunning ?? {});
    const oldest = Math.floor((nowMs - this.keepMs) / 1000);
    for (const k of this.seconds.keys()) if (k < oldest) this.seconds.delete(k);
  }

  average(windowMs: number, nowMs: number): WindowView {
    const none = {
      concurrency: 0,
      closedLoopConcurrency: 0,
      held: 0,
      busy: 0,
      work: 0,
      rate: 0,
      recentBusy: 0,
      arrivalsFollowInstances: false,
    };
    if (this.firstSecond === undefined) return none;
    const now = Math.floor(nowMs / 1000);
    const span = Math.min(Math.ceil(windowMs / 1000), now - this.firstSecond + 1);
    if (span <= 0) return none;
    const { held, busy, work, rate, longRunning } = this.sum(now, span, String(windowMs / 1000));
    // A closed loop is told by the last few seconds, not the whole window: the burst of
    // arrivals that started the loop (10 at once) would hide it for as long as the window.
    const recentSpan = Math.min(CLOSED_LOOP_SECONDS, span);
    const recent = this.sum(now, recentSpan);
    const concurrency = Math.max(longRunning, Math.min(work, held));
    // One read of the longest span the judgements need (6 s); each takes its last seconds.
    const levelSpan = Math.min(HELD_LEVEL_SECONDS, span);
    const read = this.perSecond(now, Math.max(levelSpan, recentSpan, Math.min(FOLLOWED_SECONDS, span)));
    const last = (n: number) => read.filter((x) => x.at > now - n);
    const seconds = last(recentSpan);
    const heldSeconds = heldForLevel(last(levelSpan));
    const arrivalsFollowInstances = followed(
      last(Math.min(FOLLOWED_SECONDS, span)),
      heldSeconds,
      recent.durationMs / 1000,
    );
    const closedLoopConcurrency =
      isClosedLoop(recent.work, recent.held, recent.busy) &&
      (steady(seconds, heldSeconds, recentSpan) || arrivalsFollowInstances)
        ? Math.max(concurrency, recent.held)
        : concurrency;
    return {
      concurrency,
      closedLoopConcurrency,
      held,
      busy,
      work,
      rate,
      recentBusy: recent.busy,
      arrivalsFollowInstances: arrivalsFollowInstances && closedLoopConcurrency > concurrency,
    };
  }

  /** The window's seconds, oldest first, rounded: what a decision's log shows of its input. */
  recentSeconds(windowMs: number, nowMs: number): Array<{ held: number; busy: number; rate: number }> {
    if (this.firstSecond === undefined) return [];
    const now = Math.floor(nowMs / 1000);
    const span = Math.min(Math.ceil(windowMs / 1000), now - this.firstSecond + 1);
    const r = (x: number) => Math.round(x * 100) / 100;
    return this.perSecond(now, span).map((x) => ({ held: r(x.held), busy: r(x.busy), rate: r(x.rate) }));
  }

  /**
   * All activators' reports second by second over the last span seconds. A second no report
   * has reached yet (the current one, when the decision comes early in it) says nothing and
   * is left out; read as 0 it made a loop look unsteady at every tick that came before the
   * activators' reports.
   */
  private perSecond(now: number, span: number): Second[] {
    const out: Second[] = [];
    for (let s = now - span + 1; s <= now; s++) {
      const second: Second = { at: s, held: 0, busy: 0, rate: 0 };
      let reported = false;
      for (const v of this.seconds.get(s)?.values() ?? []) {
        if (v.coveredSeconds <= 0) continue;
        second.held += v.heldSeconds / v.coveredSeconds;
        second.busy += v.busySeconds / v.coveredSeconds;
        second.rate += v.arrivals / v.coveredSeconds;
        reported = true;
      }
      if (reported) out.push(second);
    }
    return out;
  }

  /**
   * Time-averaged held and busy, arrivals per second (R) and R × D over the last span
   * seconds, and the long-running requests (those running longer than window `window`) of
   * the activators that reported in them.
   */
  private sum(
    now: number,
    span: number,
    window = "",
  ): Omit<WindowView, "concurrency" | "closedLoopConcurrency" | "recentBusy" | "arrivalsFollowInstances"> & {
    longRunning: number;
    durationMs: number;
  } {
    const perActivator = new Map<string, Bucket>();
    for (let s = now - span + 1; s <= now; s++) {
      for (const [activator, v] of this.seconds.get(s) ?? []) {
        const sum = perActivator.get(activator) ?? {
          arrivals: 0,
          heldSeconds: 0,
          busySeconds: 0,
          coveredSeconds: 0,
        };
        sum.arrivals += v.arrivals;
        sum.heldSeconds += v.heldSeconds;
        sum.busySeconds += v.busySeconds;
        sum.coveredSeconds += v.coveredSeconds;
        perActivator.set(activator, sum);
      }
    }
    let held = 0;
    let busy = 0;
    let rate = 0;
    let longRunning = 0;
    // D is the function's, not an activator's: the largest estimate of those reporting. An
    // activator whose first requests have not finished knows only how long they have run so
    // far — seen: a 1 s function at 2/s read R × D = 1.51 with one activator at 0.5 s, panic's
    // tolerance then kept 2 instances where 3 are needed, and a queue stood.
    let durationMs = 0;
    for (const [activator, sum] of perActivator) {
      longRunning += this.latestLongRunning.get(activator)?.[window] ?? 0;
      durationMs = Math.max(durationMs, this.latestDurationMs.get(activator) ?? 0);
      const seconds = Math.max(sum.coveredSeconds, span - 1);
      if (seconds <= 0) continue;
      held += sum.heldSeconds / seconds;
      busy += sum.busySeconds / seconds;
      rate += sum.arrivals / seconds;
    }
    const work = rate * (durationMs / 1000);
    return { held, busy, work, rate, longRunning, durationMs };
  }
}
