/**
 * Invocation logs kept after their instances stop: the activators write each invocation's
 * summary and log (SCF's log result: its last 4 KB) to a JetStream stream, one subject per
 * function, kept for a while (docs/cli.md says how long); the CLI reads them back through
 * the invoke API:
 *
 *   GET /v1/namespaces/{ns}/invocations?function={name}[&requestId=][&sinceSeconds=][&limit=]
 *     → {"items": [KeptInvocation, ...]}, oldest first   (RBAC: list invocations)
 */

/** One invocation as kept. */
export interface KeptInvocation {
  requestId: string;
  namespace: string;
  function: string;
  /** When it ended (ISO 8601). */
  time: string;
  /** "Succeeded", "FunctionError" (the function threw, timed out, …), or "PlatformError". */
  outcome: "Succeeded" | "FunctionError" | "PlatformError";
  /** SCF's errorCode when it did not succeed (430, 433, 503's 500, …). */
  errorCode?: number;
  /** The function's execution time (ms), when it ran. */
  durationMs?: number;
  coldStart: boolean;
  async: boolean;
  /** SCF's log lines of the invocation, its last 4 KB. */
  log: string;
}

export const KEPT_LOGS_STREAM = "UPDRAFT_LOGS";
export const KEPT_LOGS_SUBJECTS = "updraft.logs.>";

/** Names are DNS labels (no "."), so each is one subject token. */
export const keptLogSubject = (namespace: string, fn: string): string => `updraft.logs.${namespace}.${fn}`;

/** The most a list answers; older ones are left out. */
export const KEPT_LOGS_MAX_LIST = 1000;
