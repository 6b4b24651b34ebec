/**
 * When a draining instance may close its port. The activators keep connections to
 * instances alive, and they learn that a pod is terminating from its EndpointSlice, a
 * moment after the kubelet's SIGTERM. Until then their requests keep coming: each must meet
 * the instance's 503 "draining" (which the activator retries on another instance, since it
 * provably did not run here) and not a port closed under a kept-alive connection, where the
 * activator cannot tell whether the request ran.
 *
 * So an instance closes only once nothing runs and nothing has arrived for DRAIN_QUIET_MS,
 * or at the deadline (the function's timeout) whatever happens. Example: SIGTERM at t = 0,
 * the last call ends at 300 ms, an activator's last request (answered 503) at 700 ms →
 * the instance closes at 1,700 ms.
 */
export const DRAIN_QUIET_MS = 1000;

export interface DrainState {
  /** Requests still running. */
  readonly inFlight: number;
  /** When the last request arrived (ms, the same clock as `now`). */
  readonly lastRequestAt: number;
}

/** True while a draining instance must stay open. */
export function mustStayOpen(s: DrainState, nowMs: number, deadlineMs: number): boolean {
  if (nowMs >= deadlineMs) return false;
  return s.inFlight > 0 || nowMs - s.lastRequestAt < DRAIN_QUIET_MS;
}

/** Resolves when the instance may close (see mustStayOpen), polling every 20 ms. */
export async function settle(s: DrainState, deadlineMs: number, now: () => number = Date.now): Promise<void> {
  while (mustStayOpen(s, now(), deadlineMs)) await new Promise((r) => setTimeout(r, 20));
}
