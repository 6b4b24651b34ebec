/**
 * The scale decision, pure (issue 4 part: wake from zero, back to zero when idle; the
 * requests × duration rule comes with issue 5).
 *
 * floor = max(minInstances, provisioned).
 * - A request waiting for a function with no instance: at least 1 (and at least floor).
 * - Traffic (requests or work in flight) within scaleToZeroAfterSeconds: keep what it has,
 *   never below floor.
 * - Idle for longer than scaleToZeroAfterSeconds: floor (0 for a plain function).
 * Example: scaleToZeroAfterSeconds 30, last request at 10:00:00, now 10:00:31, one
 * replica, floor 0 → 0.
 */
export interface ScaleInput {
  replicas: number;
  minInstances: number;
  provisioned: number;
  maxInstances?: number;
  scaleToZeroAfterMs: number;
  lastActivityMs: number;
  inFlight: number;
  activationRequested: boolean;
  nowMs: number;
}

export function decideReplicas(i: ScaleInput): { replicas: number; reason: string } {
  const floor = Math.max(i.minInstances, i.provisioned);
  const cap = (n: number) => (i.maxInstances !== undefined ? Math.min(n, i.maxInstances) : n);
  if (i.activationRequested && i.replicas === 0)
    return { replicas: cap(Math.max(1, floor)), reason: "ScaleFromZero" };
  if (i.replicas < floor) return { replicas: cap(floor), reason: "BelowFloor" };
  const idle = i.inFlight === 0 && i.nowMs - i.lastActivityMs > i.scaleToZeroAfterMs;
  if (idle && i.replicas > floor)
    return { replicas: floor, reason: floor === 0 ? "ScaleToZero" : "ScaleToFloor" };
  return { replicas: i.replicas, reason: "Steady" };
}
