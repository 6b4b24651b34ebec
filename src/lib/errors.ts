/**
 * Errors with a stable code and a cause. Components throw these; only the edge (an HTTP
 * handler, a CLI) maps a code to a status. `permanent` errors are not retried by work
 * queues: retrying a malformed spec cannot help.
 */
export class UpdraftError extends Error {
  readonly code: string;
  readonly permanent: boolean;

  constructor(code: string, message: string, options: { cause?: unknown; permanent?: boolean } = {}) {
    super(message, { cause: options.cause });
    this.name = "UpdraftError";
    this.code = code;
    this.permanent = options.permanent ?? false;
  }
}

export function isPermanent(err: unknown): boolean {
  return err instanceof UpdraftError && err.permanent;
}

/** HTTP status of a Kubernetes API error from client-node (ApiException has `code`). */
export function apiStatus(err: unknown): number | undefined {
  if (typeof err === "object" && err !== null) {
    const e = err as { code?: unknown; statusCode?: unknown };
    if (typeof e.code === "number") return e.code;
    if (typeof e.statusCode === "number") return e.statusCode;
  }
  return undefined;
}

export const isNotFound = (err: unknown): boolean => apiStatus(err) === 404;

/**
 * The API server refused to create something in a namespace that is being deleted (403,
 * cause NamespaceTerminating). Nothing created there can last, and what asked for it goes
 * with the namespace: retrying only fills the log until it is gone.
 */
export function isNamespaceTerminating(err: unknown): boolean {
  if (apiStatus(err) !== 403) return false;
  const body = (err as { body?: unknown }).body;
  const text = typeof body === "string" ? body : JSON.stringify(body ?? "");
  return text.includes('"NamespaceTerminating"');
}
export const isConflict = (err: unknown): boolean => apiStatus(err) === 409;
export const isAlreadyExists = (err: unknown): boolean => apiStatus(err) === 409;

export function errorMessage(err: unknown): string {
  if (err instanceof Error) {
    const body = (err as { body?: unknown }).body;
    if (typeof body === "string" && body.length > 0) {
      try {
        const parsed = JSON.parse(body) as { message?: string };
        if (parsed.message) return parsed.message;
      } catch {
        // not JSON: fall back to the error's own message
      }
    }
    return err.message;
  }
  return String(err);
}
