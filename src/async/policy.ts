/**
 * What happens to an async event after an attempt (SCF's retry rules, docs/async.md), pure:
 * - success → done (ack);
 * - a user-code error (430, 433, 434, 437, 439, 450…) is retried `retryAttempts` times
 *   (SCF default 2), after the configured delays (SCF: 1 min, then 2 min), then dead-lettered;
 * - throttling and platform errors (over the concurrency limit, no instance came up, the
 *   instance unreachable) are retried with exponential back-off until the event's age runs
 *   out — the function's limit makes events wait, never fail;
 * - an event older than maxEventAgeSeconds never runs: dead-lettered.
 *
 * Example: retryAttempts 2, delays [60 s, 120 s], an always-throwing function → runs at
 * t = 0, 60 s, 180 s (3 = 1 + retryAttempts attempts), then dead letter.
 */
export type AttemptOutcome = "success" | "userError" | "platformError";

export interface RetryPolicy {
  retryAttempts: number;
  maxEventAgeMs: number;
  /** Delay before the n-th retry of a user error (the last one repeats). */
  userRetryDelaysMs: readonly number[];
  /** Back-off for platform errors: min(max, base × 2^(n−1)). */
  platformBackoffBaseMs: number;
  platformBackoffMaxMs: number;
}

export type AfterAttempt =
  | { action: "done" }
  | { action: "retry"; delayMs: number }
  | { action: "deadLetter"; reason: "RetriesExhausted" | "EventExpired" };

export function isExpired(enqueuedAtMs: number, nowMs: number, p: RetryPolicy): boolean {
  return nowMs - enqueuedAtMs >= p.maxEventAgeMs;
}

/**
 * userErrors: user-code errors so far, this one included; platformErrors likewise.
 * A retry that would start after the event expired is a dead letter now (EventExpired).
 */
export function afterAttempt(
  outcome: AttemptOutcome,
  counts: { userErrors: number; platformErrors: number },
  enqueuedAtMs: number,
  nowMs: number,
  p: RetryPolicy,
): AfterAttempt {
  if (outcome === "success") return { action: "done" };
  let delayMs: number;
  if (outcome === "userError") {
    if (counts.userErrors > p.retryAttempts) return { action: "deadLetter", reason: "RetriesExhausted" };
    const i = Math.min(counts.userErrors - 1, p.userRetryDelaysMs.length - 1);
    delayMs = p.userRetryDelaysMs[Math.max(0, i)] ?? 0;
  } else {
    const n = Math.max(1, counts.platformErrors);
    delayMs = Math.min(p.platformBackoffMaxMs, p.platformBackoffBaseMs * 2 ** (n - 1));
  }
  if (nowMs + delayMs - enqueuedAtMs >= p.maxEventAgeMs)
    return { action: "deadLetter", reason: "EventExpired" };
  return { action: "retry", delayMs };
}

/** Parses "60,120" (seconds, SCF's delays) into milliseconds; fails on anything else. */
export function parseDelays(text: string, unitMs = 1000): number[] {
  const parts = text.split(",").map((s) => s.trim());
  const out = parts.map(Number);
  if (parts.length === 0 || out.some((n, i) => parts[i] === "" || !Number.isFinite(n) || n < 0))
    throw new Error(`not a list of non-negative numbers: "${text}"`);
  return out.map((n) => n * unitMs);
}
