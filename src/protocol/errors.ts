/**
 * The codes of the errors the invoke API and Http triggers answer with, and what each one
 * is at the edge: the invoke API's HTTP status (`sync`), an Http trigger's HTTP status
 * (`http`: a web client, so standard statuses only), and SCF's errorCode in the body.
 * Components throw UpdraftError with one of these codes; only the edge reads this table.
 * A code that is not here is an internal error (500; 502 behind an Http trigger).
 */
export const EDGE_ERRORS = {
  InvalidEvent: { sync: 400, http: 400, scf: 400 },
  InvalidParameter: { sync: 400, http: 400, scf: 400 },
  InvalidInvocationType: { sync: 400, http: 400, scf: 400 },
  /** No bearer token, or one the API server does not take (TokenReview). */
  Unauthenticated: { sync: 401, http: 401, scf: 401 },
  /** A token whose user may not do this (SubjectAccessReview). */
  Forbidden: { sync: 403, http: 403, scf: 403 },
  /** An instance announcement whose pod is not a starting instance of a function (or not as said). */
  InstanceNotVerified: { sync: 403, http: 403, scf: 403 },
  NotFound: { sync: 404, http: 404, scf: 404 },
  InvocationNotFound: { sync: 404, http: 404, scf: 404 },
  MethodNotAllowed: { sync: 405, http: 405, scf: 405 },
  /** A package upload whose bytes' SHA-256 is not the one it named: nothing is kept. */
  PackageChecksumMismatch: { sync: 400, http: 400, scf: 400 },
  /** A package upload without Content-Length (the store needs the size up front). */
  LengthRequired: { sync: 411, http: 411, scf: 400 },
  /** A kept package that is not in the store. */
  PackageNotFound: { sync: 404, http: 404, scf: 404 },
  /** The object store that keeps packages did not answer as it should. */
  CodeStoreUnavailable: { sync: 503, http: 503, scf: 500 },
  RequestTooLarge: { sync: 406, http: 413, scf: 406 },
  RequestTimeout: { sync: 408, http: 408, scf: 400 },
  QueueFull: { sync: 429, http: 429, scf: 429 },
  AsyncQueueFull: { sync: 429, http: 429, scf: 429 },
  ConcurrencyLimit: { sync: 432, http: 429, scf: 432 },
  FunctionNotFound: { sync: 435, http: 404, scf: 435 },
  NotImplemented: { sync: 501, http: 501, scf: 501 },
  NoInstanceReady: { sync: 503, http: 503, scf: 500 },
  /** No instance can start until someone acts (its ConfigMap is missing, ...): the reason says. */
  FunctionNotReady: { sync: 503, http: 503, scf: 500 },
  ActivatorOverloaded: { sync: 503, http: 503, scf: 500 },
  QueueUnavailable: { sync: 503, http: 503, scf: 500 },
  OwnerUnavailable: { sync: 503, http: 503, scf: 500 },
  /** An instance's answer over 6 MB (SCF's result limit), not read past it. */
  ResultTooLarge: { sync: 502, http: 502, scf: 407 },
  /** The API server could not be asked about a caller's token or permission. */
  AuthUnavailable: { sync: 503, http: 503, scf: 500 },
} as const satisfies Record<string, { sync: number; http: number; scf: number }>;

export type EdgeErrorCode = keyof typeof EDGE_ERRORS;

const INTERNAL = { sync: 500, http: 502, scf: 500 } as const;

export function edgeError(code: string): { sync: number; http: number; scf: number } {
  return Object.hasOwn(EDGE_ERRORS, code) ? EDGE_ERRORS[code as EdgeErrorCode] : INTERNAL;
}

/** What an HTTP caller is told to wait before trying again after a 429 or 503, in seconds. */
export const RETRY_AFTER_SECONDS = 1;
