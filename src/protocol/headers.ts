/**
 * Every x-updraft-* header, by what it carries: the invoke API's (caller ↔ activator) and
 * the instance's (activator ↔ runtime shim). Components import these names and never
 * spell them out; HTTP header names are case-insensitive, so the lower-case spelling is
 * the one on the wire.
 */
export const HEADER_PREFIX = "x-updraft-";

export const UpdraftHeaders = {
  /** RequestResponse (sync, the default) or Event (async: 202 once stored). */
  invocationType: "x-updraft-invocation-type",
  /** The invocation's id: answered to the caller, passed to the instance. */
  requestId: "x-updraft-request-id",
  /**
   * An async event with a key is stored at most once per function for as long as its
   * invocation record lives (24 h by default): a second enqueue with the same key answers
   * 202 with the first one's request id and `Duplicate: true`, and stores nothing.
   */
  idempotencyKey: "x-updraft-idempotency-key",
  /** What fired the event (timer, ckafka, cmq, cos): TRIGGER_SRC in the function. */
  triggerSource: "x-updraft-trigger-source",
  /** The Trigger's name; its async events go to a subject of their own. */
  trigger: "x-updraft-trigger",
  /** Answered on an async enqueue that found its idempotency key already stored. */
  duplicate: "x-updraft-duplicate",
  /** The function failed: SCF's code (430, 433, …); the body is SCF's error. */
  functionError: "x-updraft-function-error",
  errorCode: "x-updraft-error-code",
  /** "Tail": answer the invocation's last 4 KB of log lines, base64, in logResult. */
  logType: "x-updraft-log-type",
  logResult: "x-updraft-log-result",
  /** Execution time, the billed time (1 ms steps), and the cold start's, in ms. */
  durationMs: "x-updraft-duration-ms",
  billedDurationMs: "x-updraft-billed-duration-ms",
  initDurationMs: "x-updraft-init-duration-ms",
  /** To the instance: the caller waited for this instance's cold start. */
  coldStart: "x-updraft-cold-start",
  /** To the instance: an async event (its outcome is remembered; a repeat never runs twice). */
  async: "x-updraft-async",
  /** To the instance: which attempt of the async event this is. */
  attempt: "x-updraft-attempt",
  /** From the instance: the answer is a remembered run's, not a new one. */
  repeat: "x-updraft-repeat",
  /**
   * From the shim, on its own refusals of a Web request (an instance draining or full), so
   * the activator tells them from the function's own 429 or 503 and sends the request on.
   */
  refusal: "x-updraft-refusal",
  /**
   * Between activators: the request was sent on by another replica to the one that admits
   * its function (concurrency.max); it is served here and never sent on again.
   */
  relayed: "x-updraft-relayed",
  /**
   * From the shim's /readyz: the UID of its pod, so the activator serves an instance that
   * announced itself only once the address answers as that pod.
   */
  podUid: "x-updraft-pod-uid",
} as const;
