/**
 * The activator's capacity math, pure: which ready instance takes the next request. An
 * instance takes at most perInstance requests at once; among those with room, the least
 * busy wins, ties broken round robin so equal instances share the load.
 *
 * Example: perInstance 2, in flight [2, 1, 0] → the third instance (0 < 1 < 2); with
 * [2, 2, 2] nobody has room and the request waits.
 */
import { createHash } from "node:crypto";
import type { InstanceChannel } from "./instance-channel.ts";

export interface Instance {
  ip: string;
  /** This activator's requests on it. */
  inFlight: number;
  /** Answered "at capacity" (another activator filled it): skipped until then (ms). */
  busyUntil?: number;
  /** "At capacity" answers in a row, for the back-off. */
  busyStreak?: number;
  /** In this activator's subset (false: another activator sends to it). Absent: yes. */
  mine?: boolean;
  /** "http://ip:port", the forwarder's, made once. */
  origin?: string;
  /** The forwarder's channel to it, made on the first call. */
  channel?: InstanceChannel;
  /** Until then (ms, the forwarder's clock) it is called over HTTP: its channel could not be reached. */
  noChannelUntil?: number;
  /** The table let it go (FunctionTable.onInstanceGone): no channel is opened to it again. */
  left?: boolean;
}

export function pickInstance(
  instances: readonly Instance[],
  perInstance: number,
  cursor: number,
  nowMs = 0,
): number {
  let best = -1;
  let bestInFlight = Infinity;
  const n = instances.length;
  for (let k = 0; k < n; k++) {
    const i = (cursor + k) % n;
    const inst = instances[i]!;
    if (inst.inFlight >= perInstance || inst.mine === false) continue;
    // Answered "at capacity" a moment ago: skipped until its back-off is over.
    if (inst.busyUntil !== undefined && inst.busyUntil > nowMs) continue;
    if (inst.inFlight < bestInFlight) {
      best = i;
      bestInFlight = inst.inFlight;
    }
  }
  return best;
}

/** Free request slots across the ready instances: Σ max(0, perInstance − inFlight). */
export function freeSlots(instances: readonly Instance[], perInstance: number): number {
  return instances.reduce((sum, i) => sum + Math.max(0, perInstance - i.inFlight), 0);
}

/**
 * Which activator admits a function that has a concurrency.max: one of the ready replicas,
 * by rendezvous hashing of the function's key with each replica's address (the highest
 * score wins), so that every replica that sees the same replicas names the same owner, and
 * a replica that comes or goes moves only the functions it owned or now wins. The owner
 * holds the whole limit; the others send it their requests, so max 1 over 2 activators
 * runs one call at a time and refuses no caller for landing on the "wrong" replica.
 * Example: replicas [10.0.0.5, 10.0.0.9]: "ns/fn" → whichever of sha256("ns/fn\n10.0.0.5")
 * and sha256("ns/fn\n10.0.0.9") is larger.
 */
export function ownerOf(key: string, replicas: readonly string[]): string | undefined {
  let best: string | undefined;
  let bestScore = "";
  for (const r of replicas) {
    const score = createHash("sha256").update(`${key}\n${r}`).digest("hex");
    if (best === undefined || score > bestScore) {
      best = r;
      bestScore = score;
    }
  }
  return best;
}
