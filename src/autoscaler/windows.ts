/**
 * Observed concurrency over time: each activator reports, every second, the time-averaged
 * number of requests it held for a function (in flight or waiting). A second's value is
 * the sum over activators (each counted once per second, the latest report winning); a
 * window's value is the mean over its seconds, counting seconds with no report as 0 but
 * never more seconds than the function has been observed.
 *
 * Example: activators A and B report 2 and 1 each second for 3 s → average over a 6 s
 * window = 3 (3 observed seconds of 3), not 1.5.
 */
export class ConcurrencyWindows {
  private readonly seconds = new Map<number, Map<string, number>>();
  private firstSecond: number | undefined;
  private readonly keepMs: number;

  constructor(keepMs = 60_000) {
    this.keepMs = keepMs;
  }

  record(activator: string, concurrency: number, nowMs: number): void {
    const s = Math.floor(nowMs / 1000);
    this.firstSecond ??= s;
    let bucket = this.seconds.get(s);
    if (!bucket) {
      bucket = new Map();
      this.seconds.set(s, bucket);
    }
    bucket.set(activator, concurrency);
    const oldest = Math.floor((nowMs - this.keepMs) / 1000);
    for (const k of this.seconds.keys()) if (k < oldest) this.seconds.delete(k);
  }

  average(windowMs: number, nowMs: number): number {
    if (this.firstSecond === undefined) return 0;
    const now = Math.floor(nowMs / 1000);
    const span = Math.min(Math.ceil(windowMs / 1000), now - this.firstSecond + 1);
    if (span <= 0) return 0;
    let sum = 0;
    for (let s = now - span + 1; s <= now; s++) {
      for (const v of this.seconds.get(s)?.values() ?? []) sum += v;
    }
    return sum / span;
  }
}
