/**
 * The activator's capacity math, pure: which ready instance takes the next request. An
 * instance takes at most perInstance requests at once; among those with room, the least
 * busy wins, ties broken round robin so equal instances share the load.
 *
 * Example: perInstance 2, in flight [2, 1, 0] → the third instance (0 < 1 < 2); with
 * [2, 2, 2] nobody has room and the request waits.
 */
export interface Instance {
  ip: string;
  /** This activator's requests on it. */
  inFlight: number;
  /** Answered "at capacity" (another activator filled it): skipped until then (ms). */
  busyUntil?: number;
  /** "At capacity" answers in a row, for the back-off. */
  busyStreak?: number;
}

export function pickInstance(
  instances: readonly Instance[],
  perInstance: number,
  cursor: number,
  allowed?: (i: Instance) => boolean,
): number {
  let best = -1;
  const n = instances.length;
  for (let k = 0; k < n; k++) {
    const i = (cursor + k) % n;
    const inst = instances[i]!;
    if (inst.inFlight >= perInstance || (allowed && !allowed(inst))) continue;
    if (best === -1 || inst.inFlight < instances[best]!.inFlight) best = i;
  }
  return best;
}

/** Free request slots across the ready instances: Σ max(0, perInstance − inFlight). */
export function freeSlots(instances: readonly Instance[], perInstance: number): number {
  return instances.reduce((sum, i) => sum + Math.max(0, perInstance - i.inFlight), 0);
}

/**
 * An activator replica's part of a function's concurrency.max: max split evenly over the
 * ready replicas, the remainder to the first ones, so the parts add up to max exactly.
 * max 5 over 2 activators → 3 and 2; max 1 over 3 → 1, 0, 0.
 */
export function concurrencyShare(max: number, place: { count: number; index: number }): number {
  const n = Math.max(1, place.count);
  const i = Math.max(0, place.index);
  return Math.floor(max / n) + (i < max % n ? 1 : 0);
}
