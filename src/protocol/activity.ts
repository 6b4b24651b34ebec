/**
 * What activators tell the autoscaler (POST /v1/activity every second, POST /v1/activate
 * when a request finds a function at zero), and the windows both sides count by.
 */

/** The autoscaler's windows: it averages over them; activators count long-running requests by them. */
export const STABLE_WINDOW_MS = 60_000;
export const PANIC_WINDOW_MS = 6_000;

export const AutoscalerPaths = {
  /** Body: ActivityReport. */
  activity: "/v1/activity",
  /** Body: { namespace, name }: scale this function from zero now. */
  activate: "/v1/activate",
} as const;

/**
 * What an activator saw of one function during one period (about a second): `held` and
 * `busy` are time-averaged counts (requests admitted / requests on an instance),
 * `arrivals` a count, `durationMs` the expected execution time of a request.
 */
export interface ActivitySample {
  arrivals: number;
  held: number;
  busy: number;
  durationMs: number;
  /** The period this sample covers (ms). */
  periodMs: number;
  /**
   * Requests running now for longer than each window, by its length in seconds ("6",
   * "60"): work that is real though it arrived before the window.
   */
  longRunning?: Record<string, number>;
}

/** One activator's report: a sample per function ("namespace/name"), and what it holds now. */
export interface ActivityReport {
  activator: string;
  items: Array<{ key: string; heldNow: number } & ActivitySample>;
}
