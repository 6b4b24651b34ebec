/**
 * A work queue with client-go's guarantees, for level-triggered reconcilers:
 * - de-duplicating: a key added many times before it is processed is processed once;
 * - never concurrent per key: a key added while it is being processed is marked dirty and
 *   processed again after the current run finishes, never twice at once;
 * - rate-limited retries: `addRateLimited` delays a failing key by an exponential
 *   per-key back-off, `forget` resets it on success.
 *
 * Back-off: delay = min(base × 2^failures, max). With base 100 ms and max 300 s a key
 * failing 5 times in a row waits 0.1, 0.2, 0.4, 0.8, 1.6 s; after 12 failures it waits
 * the 300 s cap (100 ms × 2^12 = 409.6 s > 300 s).
 */
export interface WorkQueueOptions {
  baseDelayMs?: number;
  maxDelayMs?: number;
}

export function backoffDelay(failures: number, baseMs: number, maxMs: number): number {
  return Math.min(baseMs * 2 ** failures, maxMs);
}

export class WorkQueue {
  private readonly queue: string[] = [];
  private readonly dirty = new Set<string>();
  private readonly processing = new Set<string>();
  private readonly failures = new Map<string, number>();
  /** Delayed adds, one per key, with when each is due (Date.now()). */
  private readonly timers = new Map<string, { timer: NodeJS.Timeout; dueAt: number }>();
  private readonly waiters: Array<(key: string | undefined) => void> = [];
  private shuttingDown = false;
  private readonly baseDelayMs: number;
  private readonly maxDelayMs: number;

  constructor(options: WorkQueueOptions = {}) {
    this.baseDelayMs = options.baseDelayMs ?? 100;
    this.maxDelayMs = options.maxDelayMs ?? 300_000;
  }

  add(key: string): void {
    if (this.shuttingDown || this.dirty.has(key)) return;
    this.dirty.add(key);
    if (this.processing.has(key)) return; // re-queued by done()
    const waiter = this.waiters.shift();
    if (waiter) {
      this.dirty.delete(key);
      this.processing.add(key);
      waiter(key);
      return;
    }
    this.queue.push(key);
  }

  /**
   * Adds the key after delayMs. Of two delayed adds for one key the sooner stands: a
   * reconcile that must look again in 5 s is not put off by a back-off of 40 s set before.
   */
  addAfter(key: string, delayMs: number): void {
    if (this.shuttingDown) return;
    if (delayMs <= 0) {
      this.add(key);
      return;
    }
    const dueAt = Date.now() + delayMs;
    const pending = this.timers.get(key);
    if (pending) {
      if (pending.dueAt <= dueAt) return;
      clearTimeout(pending.timer);
    }
    const timer = setTimeout(() => {
      this.timers.delete(key);
      this.add(key);
    }, delayMs);
    timer.unref();
    this.timers.set(key, { timer, dueAt });
  }

  addRateLimited(key: string): number {
    const n = this.failures.get(key) ?? 0;
    this.failures.set(key, n + 1);
    const delay = backoffDelay(n, this.baseDelayMs, this.maxDelayMs);
    this.addAfter(key, delay);
    return delay;
  }

  forget(key: string): void {
    this.failures.delete(key);
  }

  numRequeues(key: string): number {
    return this.failures.get(key) ?? 0;
  }

  /** Resolves with the next key to process, or undefined once shut down. */
  get(): Promise<string | undefined> {
    if (this.shuttingDown) return Promise.resolve(undefined);
    const key = this.queue.shift();
    if (key !== undefined) {
      this.dirty.delete(key);
      this.processing.add(key);
      return Promise.resolve(key);
    }
    return new Promise((resolve) => this.waiters.push(resolve));
  }

  /** Marks the key processed; if it was added meanwhile, it goes back on the queue. */
  done(key: string): void {
    this.processing.delete(key);
    if (this.dirty.has(key)) {
      this.dirty.delete(key);
      this.add(key);
    }
  }

  get length(): number {
    return this.queue.length;
  }

  get inFlight(): number {
    return this.processing.size;
  }

  shutDown(): void {
    this.shuttingDown = true;
    for (const t of this.timers.values()) clearTimeout(t.timer);
    this.timers.clear();
    for (const w of this.waiters.splice(0)) w(undefined);
  }
}

/**
 * Runs `workers` loops taking keys from the queue and calling `handle`. A handler that
 * throws is retried with back-off unless the error is permanent; one that returns
 * `{ requeueAfterMs }` is looked at again later (e.g. waiting for a rollout).
 */
export async function runWorkers(
  queue: WorkQueue,
  workers: number,
  handle: (key: string) => Promise<{ requeueAfterMs?: number } | undefined>,
  onError: (key: string, err: unknown, retryInMs: number | undefined) => void,
  isPermanent: (err: unknown) => boolean,
): Promise<void> {
  const loop = async (): Promise<void> => {
    for (;;) {
      const key = await queue.get();
      if (key === undefined) return;
      try {
        const result = await handle(key);
        queue.forget(key);
        if (result?.requeueAfterMs !== undefined) queue.addAfter(key, result.requeueAfterMs);
      } catch (err) {
        if (isPermanent(err)) {
          queue.forget(key);
          onError(key, err, undefined);
        } else {
          onError(key, err, queue.addRateLimited(key));
        }
      } finally {
        queue.done(key);
      }
    }
  };
  await Promise.all(Array.from({ length: workers }, loop));
}
