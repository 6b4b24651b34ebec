/**
 * Who may call the invoke API (docs/security.md): a caller presents a Kubernetes bearer
 * token; the API server says whose it is (TokenReview) and whether that user may do this to
 * this function (SubjectAccessReview) — the activator keeps no users or keys of its own, and
 * the cluster's RBAC is the policy: verb `invoke` on `functions.updraft.dev` to call a
 * function, verb `get` on `invocations.updraft.dev` to read invocation records, both in the
 * function's namespace.
 *
 * Decisions are cached briefly, per token (a SHA-256 of it, never the token) and per
 * question, in bounded maps; concurrent questions share one review. Example: a burst of
 * 1,000 calls with one token at one function costs one TokenReview and one
 * SubjectAccessReview, and the next 10 s of calls none. A revoked RoleBinding or token is
 * honoured within the cache's time (10 s allowed, 2 s refused).
 */
import { hash } from "node:crypto";
import { UpdraftError } from "./errors.ts";

/** The user a token belongs to, as the API server's TokenReview says. */
export interface UserInfo {
  username: string;
  uid?: string;
  groups: string[];
  extra?: Record<string, string[]>;
}

/** One question for the cluster's authorizer, about one namespace's resource. */
export interface AccessRequest {
  namespace: string;
  verb: "invoke" | "get" | "list" | "create";
  /**
   * `functions` to call one; `invocations` to read records (list: the kept logs);
   * `packages` to upload a code package (create).
   */
  resource: "functions" | "invocations" | "packages";
  name?: string;
}

/** TokenReview: whose token this is; undefined when the API server does not take it. */
export interface TokenReviewer {
  review(token: string): Promise<UserInfo | undefined>;
}

/** SubjectAccessReview: may this user do that. */
export interface AccessReviewer {
  review(user: UserInfo, request: AccessRequest): Promise<{ allowed: boolean; reason?: string }>;
}

export interface AuthorizerOptions {
  /** How long a decision that let a caller in is reused. */
  allowedTtlMs?: number;
  /** How long a refusal (bad token, no permission) is reused: short, so a new binding counts soon. */
  refusedTtlMs?: number;
  /** Entries kept per map; the oldest go first. */
  maxEntries?: number;
  now?: () => number;
}

interface Entry<T> {
  value: T;
  expiresMs: number;
}

/** A map of at most `max` entries that expire; the least recently used go first. */
class ExpiringCache<T> {
  private readonly entries = new Map<string, Entry<T>>();
  private readonly pending = new Map<string, Promise<T>>();
  private readonly max: number;

  constructor(max: number) {
    this.max = max;
  }

  get size(): number {
    return this.entries.size;
  }

  /** The cached value, else one lookup shared by every concurrent caller of this key. */
  async get(key: string, nowMs: number, load: () => Promise<{ value: T; ttlMs: number }>): Promise<T> {
    const hit = this.entries.get(key);
    if (hit && hit.expiresMs > nowMs) {
      // Most recently used last, so the bound drops the coldest.
      this.entries.delete(key);
      this.entries.set(key, hit);
      return hit.value;
    }
    const inFlight = this.pending.get(key);
    if (inFlight) return inFlight;
    const p = load().then(
      ({ value, ttlMs }) => {
        this.pending.delete(key);
        this.entries.delete(key);
        if (ttlMs > 0) this.entries.set(key, { value, expiresMs: nowMs + ttlMs });
        while (this.entries.size > this.max) {
          const oldest = this.entries.keys().next().value as string;
          this.entries.delete(oldest);
        }
        return value;
      },
      (err: unknown) => {
        this.pending.delete(key);
        throw err;
      },
    );
    this.pending.set(key, p);
    return p;
  }
}

/** The bearer token of an Authorization header, or undefined. */
export function bearerToken(authorization: string | undefined): string | undefined {
  if (!authorization) return undefined;
  const m = /^Bearer +(\S+)\s*$/i.exec(authorization);
  return m?.[1];
}

export class RequestAuthorizer {
  private readonly users: ExpiringCache<UserInfo | undefined>;
  private readonly decisions: ExpiringCache<{ allowed: boolean; reason?: string }>;
  private readonly allowedTtlMs: number;
  private readonly refusedTtlMs: number;
  private readonly now: () => number;
  private readonly tokens: TokenReviewer;
  private readonly access: AccessReviewer;

  constructor(tokens: TokenReviewer, access: AccessReviewer, opts: AuthorizerOptions = {}) {
    this.tokens = tokens;
    this.access = access;
    this.allowedTtlMs = opts.allowedTtlMs ?? 10_000;
    this.refusedTtlMs = opts.refusedTtlMs ?? 2000;
    this.users = new ExpiringCache(opts.maxEntries ?? 10_000);
    this.decisions = new ExpiringCache(opts.maxEntries ?? 10_000);
    this.now = opts.now ?? Date.now;
  }

  /** Entries cached now (tokens, decisions): what the bound keeps in check. */
  cached(): { tokens: number; decisions: number } {
    return { tokens: this.users.size, decisions: this.decisions.size };
  }

  /**
   * The caller's user when the request may go on; else Unauthenticated (no token, or one
   * the API server does not take: 401), Forbidden (403, with the authorizer's reason when
   * it gave one) or AuthUnavailable (503: the API server could not be asked; not cached).
   */
  async authorize(authorization: string | undefined, request: AccessRequest): Promise<UserInfo> {
    const token = bearerToken(authorization);
    if (!token)
      throw new UpdraftError(
        "Unauthenticated",
        "a Kubernetes bearer token is required (Authorization: Bearer …)",
      );
    const tokenKey = hash("sha256", token, "base64url");
    const now = this.now();
    const user = await this.users.get(tokenKey, now, async () => {
      const value = await this.ask("TokenReview", () => this.tokens.review(token));
      return { value, ttlMs: value ? this.allowedTtlMs : this.refusedTtlMs };
    });
    if (!user)
      throw new UpdraftError("Unauthenticated", "the bearer token was not accepted by the API server");
    return this.decide(tokenKey, user, request, now);
  }

  /**
   * The same question for a user someone else authenticated (the API server, for a request
   * through the aggregated API): SubjectAccessReview only, cached per user and groups.
   */
  async authorizeUser(user: UserInfo, request: AccessRequest): Promise<UserInfo> {
    const userKey = hash(
      "sha256",
      JSON.stringify([user.username, user.groups, user.extra ?? {}]),
      "base64url",
    );
    return this.decide(`user:${userKey}`, user, request, this.now());
  }

  private async decide(who: string, user: UserInfo, request: AccessRequest, now: number): Promise<UserInfo> {
    const question = `${who} ${request.verb} ${request.resource} ${request.namespace} ${request.name ?? ""}`;
    const decision = await this.decisions.get(question, now, async () => {
      const value = await this.ask("SubjectAccessReview", () => this.access.review(user, request));
      return { value, ttlMs: value.allowed ? this.allowedTtlMs : this.refusedTtlMs };
    });
    if (!decision.allowed) {
      const what = `${request.verb} ${request.resource}.updraft.dev${request.name ? ` "${request.name}"` : ""} in namespace "${request.namespace}"`;
      throw new UpdraftError(
        "Forbidden",
        `user "${user.username}" may not ${what}${decision.reason ? `: ${decision.reason}` : ""}`,
      );
    }
    return user;
  }

  private async ask<T>(what: string, call: () => Promise<T>): Promise<T> {
    try {
      return await askTwice(call);
    } catch (err) {
      throw new UpdraftError("AuthUnavailable", `the API server could not be asked (${what})`, {
        cause: err,
      });
    }
  }
}

/**
 * A hop between Updraft's own components (an activator's activity reports to the
 * autoscaler): the caller presents its ServiceAccount token, the API server says whose it
 * is, and only the named users may pass — no RBAC question, the component's identity is the
 * permission. Cached as above. Example: allowed {system:serviceaccount:updraft-system:
 * updraft-activator}; a function pod's token (another ServiceAccount) is 403, none is 401.
 */
export class ServiceAccountAuthenticator {
  private readonly users: ExpiringCache<UserInfo | undefined>;
  private readonly allowed: ReadonlySet<string>;
  private readonly tokens: TokenReviewer;
  private readonly allowedTtlMs: number;
  private readonly refusedTtlMs: number;
  private readonly now: () => number;

  constructor(tokens: TokenReviewer, allowed: ReadonlySet<string>, opts: AuthorizerOptions = {}) {
    this.tokens = tokens;
    this.allowed = allowed;
    this.allowedTtlMs = opts.allowedTtlMs ?? 10_000;
    this.refusedTtlMs = opts.refusedTtlMs ?? 2000;
    this.users = new ExpiringCache(opts.maxEntries ?? 1000);
    this.now = opts.now ?? Date.now;
  }

  async authenticate(authorization: string | undefined): Promise<UserInfo> {
    const token = bearerToken(authorization);
    if (!token) throw new UpdraftError("Unauthenticated", "a ServiceAccount bearer token is required");
    const key = hash("sha256", token, "base64url");
    let user: UserInfo | undefined;
    try {
      user = await this.users.get(key, this.now(), async () => {
        const value = await askTwice(() => this.tokens.review(token));
        return { value, ttlMs: value ? this.allowedTtlMs : this.refusedTtlMs };
      });
    } catch (err) {
      throw new UpdraftError("AuthUnavailable", "the API server could not be asked (TokenReview)", {
        cause: err,
      });
    }
    if (!user)
      throw new UpdraftError("Unauthenticated", "the bearer token was not accepted by the API server");
    if (!this.allowed.has(user.username))
      throw new UpdraftError(
        "Forbidden",
        `user "${user.username}" is not one of Updraft's components allowed here`,
      );
    return user;
  }
}

/**
 * A review asked again once when the first ask fails on the way — no answer, a 5xx or a
 * 429. A review has no side effect, and the usual failure is a kept-alive connection to the
 * API server closed just as the question went out on it (the connection pool's race): the
 * caller would get a 503 for a question the API server answers at once on a new connection.
 * An answer of 4xx (the component's own RBAC refused the review: 403) is the API server's
 * word and would be the same again. Example: "other side closed" → asked again; 403 → not.
 */
async function askTwice<T>(call: () => Promise<T>): Promise<T> {
  try {
    return await call();
  } catch (err) {
    if (!worthAskingAgain(err)) throw err;
    return await call();
  }
}

/** Not an HTTP answer (client-node's ApiException carries the status as a number), or 5xx/429. */
function worthAskingAgain(err: unknown): boolean {
  const status = (err as { code?: unknown } | null)?.code;
  return typeof status !== "number" || status >= 500 || status === 429;
}
