/**
 * Telling the autoscaler that a request found a function at zero (POST /v1/activate), so it
 * scales now instead of at its next tick: at most once per function per interval (a burst
 * at zero is one call, not thousands), retried a few times a little apart when the call
 * fails (the autoscaler restarting); the activity reports, which carry the requests held,
 * wake the function anyway if every try fails.
 * Example: 1,000 requests at zero within 500 ms → one call; a failed call → 4 more tries
 * 200 ms apart.
 */
export interface ActivationOptions {
  /** Sends one activation; resolves true when the autoscaler took it. */
  send: (namespace: string, name: string) => Promise<boolean>;
  /** Called with the error of a failed try. */
  onError?: (key: string, err: unknown) => void;
  /** At most one activation per function per this many ms. */
  intervalMs?: number;
  /** Tries per activation. */
  tries?: number;
  /** Between tries, ms. */
  retryDelayMs?: number;
  now?: () => number;
  /** Schedules a retry (setTimeout unless a test drives it). */
  later?: (fn: () => void, ms: number) => void;
}

export class ActivationNotifier {
  private readonly last = new Map<string, number>();
  private readonly opts: Required<Omit<ActivationOptions, "onError">> & Pick<ActivationOptions, "onError">;

  constructor(opts: ActivationOptions) {
    this.opts = {
      intervalMs: 500,
      tries: 5,
      retryDelayMs: 200,
      now: Date.now,
      later: (fn, ms) => {
        setTimeout(fn, ms).unref?.();
      },
      ...opts,
    };
  }

  /** A request found no instance of namespace/name. */
  coldRequest(namespace: string, name: string): void {
    const key = `${namespace}/${name}`;
    const now = this.opts.now();
    if (now - (this.last.get(key) ?? Number.NEGATIVE_INFINITY) < this.opts.intervalMs) return;
    this.last.set(key, now);
    this.attempt(namespace, name, 1);
  }

  private attempt(namespace: string, name: string, n: number): void {
    const again = () => {
      if (n < this.opts.tries)
        this.opts.later(() => this.attempt(namespace, name, n + 1), this.opts.retryDelayMs);
    };
    this.opts.send(namespace, name).then(
      (ok) => {
        if (!ok) again();
      },
      (err: unknown) => {
        this.opts.onError?.(`${namespace}/${name}`, err);
        again();
      },
    );
  }

  /** Forgets functions that are gone (their entries would otherwise stay). */
  retain(keys: ReadonlySet<string>): void {
    for (const k of this.last.keys()) if (!keys.has(k)) this.last.delete(k);
  }
}
