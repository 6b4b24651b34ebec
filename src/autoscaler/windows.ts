/**
 * Observed concurrency over time (DESIGN.md, scaling: requests per second × average
 * duration, Little's law). Each activator reports, every second, per function: requests
 * admitted (arrivals), the time-averaged number it held (on an instance or waiting: held),
 * the time-averaged number on an instance (busy) and the expected execution time
 * (durationMs), each over its report period (periodMs, about 1 s). A report counts in
 * the second it arrives, weighted by its period: nothing is lost when a late timer puts
 * two reports of one activator in the same second. A window averages its seconds,
 * counting silent seconds as 0 but never more seconds than the function has been observed.
 *
 * concurrency = max(busy − waiting, min(R × D, held)), waiting = held − busy:
 * - R × D is the work arriving: it leaves out the time requests wait for an instance, so
 *   a cold start does not inflate it. R = 2/s of D = 1 s, waiting 0.8 s for instances to
 *   start → held 3.6, R × D = 2, and 2 it is (3 instances at 0.7, not 6).
 * - held caps it: a one-off burst of 100 requests of 10 s is 100 requests, not the
 *   100 × 10 s / 6 s = 167 that R × D says over a 6 s window.
 * - what runs floors it: a request of 100 s that arrived before the window began is
 *   still running on an instance, though it is not an arrival of the window. Less what
 *   waits: while instances work off a backlog they are all busy, and sizing for that
 *   catch-up would overshoot (seen: a step to R·D = 4 had 5.6 busy and 5.3 waiting over
 *   6 s, and busy alone asked for 9 instances instead of 6).
 */
export interface ActivitySample {
  arrivals: number;
  held: number;
  busy: number;
  durationMs: number;
  periodMs: number;
}

/** One activator's reports within one second: arrivals, and held/busy × seconds. */
interface Bucket {
  arrivals: number;
  heldSeconds: number;
  busySeconds: number;
}

export interface WindowView {
  concurrency: number;
  held: number;
  busy: number;
  /** R × D: arrivals per second × expected duration (s). */
  work: number;
  /** R: arrivals per second. */
  rate: number;
}

export class ConcurrencyWindows {
  private readonly seconds = new Map<number, Map<string, Bucket>>();
  /** Each activator's latest expected duration: its most informed estimate. */
  private readonly latestDurationMs = new Map<string, number>();
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
    const b = bucket.get(activator) ?? { arrivals: 0, heldSeconds: 0, busySeconds: 0 };
    b.arrivals += sample.arrivals;
    b.heldSeconds += (sample.held * sample.periodMs) / 1000;
    b.busySeconds += (sample.busy * sample.periodMs) / 1000;
    bucket.set(activator, b);
    this.latestDurationMs.set(activator, sample.durationMs);
    const oldest = Math.floor((nowMs - this.keepMs) / 1000);
    for (const k of this.seconds.keys()) if (k < oldest) this.seconds.delete(k);
  }

  average(windowMs: number, nowMs: number): WindowView {
    const none = { concurrency: 0, held: 0, busy: 0, work: 0, rate: 0 };
    if (this.firstSecond === undefined) return none;
    const now = Math.floor(nowMs / 1000);
    const span = Math.min(Math.ceil(windowMs / 1000), now - this.firstSecond + 1);
    if (span <= 0) return none;
    let held = 0;
    let busy = 0;
    const arrivals = new Map<string, number>();
    for (let s = now - span + 1; s <= now; s++) {
      for (const [activator, v] of this.seconds.get(s) ?? []) {
        held += v.heldSeconds;
        busy += v.busySeconds;
        arrivals.set(activator, (arrivals.get(activator) ?? 0) + v.arrivals);
      }
    }
    let work = 0;
    let rate = 0;
    for (const [activator, n] of arrivals) {
      work += (n / span) * ((this.latestDurationMs.get(activator) ?? 0) / 1000);
      rate += n / span;
    }
    held /= span;
    busy /= span;
    const running = Math.max(0, busy - (held - busy));
    return { concurrency: Math.max(running, Math.min(work, held)), held, busy, work, rate };
  }
}
