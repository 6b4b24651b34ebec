import assert from "node:assert/strict";
import { describe, it } from "node:test";
import {
  type AccessRequest,
  type AccessReviewer,
  bearerToken,
  RequestAuthorizer,
  ServiceAccountAuthenticator,
  type TokenReviewer,
  type UserInfo,
} from "./auth.ts";
import { UpdraftError } from "./errors.ts";

/** A fake API server: tokens it knows, and which (user, verb, resource, namespace, name) it allows. */
class FakeApiServer implements TokenReviewer, AccessReviewer {
  tokenReviews = 0;
  accessReviews = 0;
  failing = false;
  /** Fail this many of the next calls (a connection closed under one question). */
  failNext = 0;
  /** Answer the next calls with these HTTP statuses (an API server's refusal or overload). */
  answerNext: number[] = [];
  readonly users = new Map<string, UserInfo>([
    ["alice-token", { username: "alice", groups: ["team-a"] }],
    ["bob-token", { username: "bob", groups: [] }],
  ]);
  readonly allowed = new Set<string>([
    "alice invoke functions team-a hello",
    "alice get invocations team-a ",
  ]);

  async review(token: string): Promise<UserInfo | undefined>;
  async review(user: UserInfo, r: AccessRequest): Promise<{ allowed: boolean; reason?: string }>;
  async review(a: string | UserInfo, r?: AccessRequest): Promise<unknown> {
    await Promise.resolve();
    if (this.failing) throw new Error("connect ECONNREFUSED");
    if (this.failNext > 0) {
      this.failNext--;
      throw new Error("other side closed");
    }
    if (this.answerNext.length > 0) {
      // As client-node throws an API server's non-2xx answer: the status in `code`.
      throw Object.assign(new Error(`HTTP ${this.answerNext[0]}`), { code: this.answerNext.shift() });
    }
    if (typeof a === "string") {
      this.tokenReviews++;
      return this.users.get(a);
    }
    this.accessReviews++;
    const key = `${a.username} ${r!.verb} ${r!.resource} ${r!.namespace} ${r!.name ?? ""}`;
    return this.allowed.has(key) ? { allowed: true } : { allowed: false, reason: "no RBAC policy matched" };
  }
}

const invokeHello: AccessRequest = {
  namespace: "team-a",
  verb: "invoke",
  resource: "functions",
  name: "hello",
};

function setup() {
  const api = new FakeApiServer();
  let now = 1_000_000;
  const auth = new RequestAuthorizer(api, api, {
    allowedTtlMs: 10_000,
    refusedTtlMs: 2000,
    maxEntries: 3,
    now: () => now,
  });
  return { api, auth, advance: (ms: number) => (now += ms) };
}

async function code(p: Promise<unknown>): Promise<string> {
  try {
    await p;
    return "ok";
  } catch (err) {
    assert.ok(err instanceof UpdraftError, String(err));
    return err.code;
  }
}

describe("bearerToken", () => {
  const cases: Array<{ why: string; header: string | undefined; want: string | undefined }> = [
    { why: "the usual header", header: "Bearer abc.def", want: "abc.def" },
    { why: "the scheme is case-insensitive (RFC 9110)", header: "bearer abc", want: "abc" },
    { why: "no header at all", header: undefined, want: undefined },
    { why: "another scheme is no token", header: "Basic dXNlcjpwYXNz", want: undefined },
    { why: "a scheme with nothing after it", header: "Bearer ", want: undefined },
    { why: "two words after the scheme are not one token", header: "Bearer a b", want: undefined },
  ];
  for (const c of cases) it(c.why, () => assert.equal(bearerToken(c.header), c.want));
});

describe("RequestAuthorizer", () => {
  it("a user the API server already authenticated (the aggregated API) is asked about by SubjectAccessReview only, cached", async () => {
    const { api, auth } = setup();
    const alice = { username: "alice", groups: ["team-a"] };
    assert.equal((await auth.authorizeUser(alice, invokeHello)).username, "alice");
    await auth.authorizeUser(alice, invokeHello);
    assert.deepEqual([api.tokenReviews, api.accessReviews], [0, 1]);
    assert.equal(await code(auth.authorizeUser({ username: "bob", groups: [] }, invokeHello)), "Forbidden");
    // Another group set is another question: a cached answer for alice in team-a says
    // nothing about alice without it.
    await code(auth.authorizeUser({ username: "alice", groups: [] }, invokeHello));
    assert.equal(api.accessReviews, 3);
  });

  it("no token is 401 without asking the API server", async () => {
    const { api, auth } = setup();
    assert.equal(await code(auth.authorize(undefined, invokeHello)), "Unauthenticated");
    assert.equal(await code(auth.authorize("Basic eDp5", invokeHello)), "Unauthenticated");
    assert.equal(api.tokenReviews, 0);
  });

  it("a token the API server does not take is 401, and the refusal is reused only briefly", async () => {
    const { api, auth, advance } = setup();
    assert.equal(await code(auth.authorize("Bearer forged", invokeHello)), "Unauthenticated");
    assert.equal(await code(auth.authorize("Bearer forged", invokeHello)), "Unauthenticated");
    assert.equal(api.tokenReviews, 1, "the second refusal came from the cache");
    advance(2001);
    await code(auth.authorize("Bearer forged", invokeHello));
    assert.equal(api.tokenReviews, 2, "asked again after the refused time-to-live");
  });

  it("a user with the verb gets in; the decision is reused for 10 s, then asked again", async () => {
    const { api, auth, advance } = setup();
    const user = await auth.authorize("Bearer alice-token", invokeHello);
    assert.equal(user.username, "alice");
    await auth.authorize("Bearer alice-token", invokeHello);
    assert.deepEqual([api.tokenReviews, api.accessReviews], [1, 1]);
    advance(10_001);
    await auth.authorize("Bearer alice-token", invokeHello);
    assert.deepEqual([api.tokenReviews, api.accessReviews], [2, 2], "a revoked binding counts within 10 s");
  });

  it("a user without the verb is 403, with the authorizer's reason", async () => {
    const { auth } = setup();
    await assert.rejects(auth.authorize("Bearer bob-token", invokeHello), (err: UpdraftError) => {
      assert.equal(err.code, "Forbidden");
      assert.match(
        err.message,
        /user "bob" may not invoke functions.updraft.dev "hello" in namespace "team-a": no RBAC/,
      );
      return true;
    });
  });

  it("each question is its own decision: another function, verb or namespace is asked anew, the token is not", async () => {
    const { api, auth } = setup();
    assert.equal(await code(auth.authorize("Bearer alice-token", invokeHello)), "ok");
    assert.equal(
      await code(auth.authorize("Bearer alice-token", { ...invokeHello, namespace: "team-b" })),
      "Forbidden",
    );
    assert.equal(
      await code(
        auth.authorize("Bearer alice-token", { namespace: "team-a", verb: "get", resource: "invocations" }),
      ),
      "ok",
    );
    assert.deepEqual([api.tokenReviews, api.accessReviews], [1, 3]);
  });

  it("a burst of concurrent calls with one token shares one review of each kind", async () => {
    const { api, auth } = setup();
    const all = await Promise.all(
      Array.from({ length: 1000 }, () => auth.authorize("Bearer alice-token", invokeHello)),
    );
    assert.equal(all.length, 1000);
    assert.deepEqual([api.tokenReviews, api.accessReviews], [1, 1]);
  });

  it("an API server that cannot be asked is 503 AuthUnavailable, and nothing is cached", async () => {
    const { api, auth } = setup();
    api.failing = true;
    assert.equal(await code(auth.authorize("Bearer alice-token", invokeHello)), "AuthUnavailable");
    api.failing = false;
    assert.equal(await code(auth.authorize("Bearer alice-token", invokeHello)), "ok");
  });

  it("a question whose first ask fails (a connection closed under it) is asked again once", async () => {
    const { api, auth } = setup();
    api.failNext = 1;
    assert.equal(await code(auth.authorize("Bearer alice-token", invokeHello)), "ok");
    api.failNext = 2;
    assert.equal(
      await code(auth.authorize("Bearer bob-token", invokeHello)),
      "AuthUnavailable",
      "not more than once",
    );
  });

  const answers: Array<{ status: number; askedAgain: boolean; why: string }> = [
    { status: 503, askedAgain: true, why: "an API server briefly unavailable answers the next ask" },
    { status: 429, askedAgain: true, why: "API priority and fairness asks callers to come back" },
    { status: 500, askedAgain: true, why: "a 5xx is the server's trouble, not the question's" },
    { status: 403, askedAgain: false, why: "the component's own RBAC refused the review: the same again" },
    { status: 400, askedAgain: false, why: "a malformed review would be malformed again" },
  ];
  for (const c of answers)
    it(`a review answered ${c.status} is ${c.askedAgain ? "" : "not "}asked again: ${c.why}`, async () => {
      const { api, auth } = setup();
      api.answerNext = [c.status];
      assert.equal(
        await code(auth.authorize("Bearer alice-token", invokeHello)),
        c.askedAgain ? "ok" : "AuthUnavailable",
      );
      assert.deepEqual(api.answerNext, [], "the answer was used");
    });

  it("the caches are bounded: the least recently used token goes first", async () => {
    const { api, auth } = setup();
    for (const t of ["t1", "t2", "t3", "t4"]) await code(auth.authorize(`Bearer ${t}`, invokeHello));
    assert.equal(auth.cached().tokens, 3);
    const before = api.tokenReviews;
    await code(auth.authorize("Bearer t1", invokeHello));
    assert.equal(api.tokenReviews, before + 1, "t1 was the oldest and was dropped");
    await code(auth.authorize("Bearer t4", invokeHello));
    assert.equal(api.tokenReviews, before + 1, "t4 is still cached");
  });
});

describe("ServiceAccountAuthenticator: a hop between Updraft's components", () => {
  const activator = "system:serviceaccount:updraft-system:updraft-activator";
  const setupHop = () => {
    const api = new FakeApiServer();
    api.users.set("activator-token", { username: activator, groups: [] });
    return { api, hop: new ServiceAccountAuthenticator(api, new Set([activator])) };
  };

  it("the allowed component passes, and its token is reviewed once", async () => {
    const { api, hop } = setupHop();
    assert.equal((await hop.authenticate("Bearer activator-token")).username, activator);
    await hop.authenticate("Bearer activator-token");
    assert.equal(api.tokenReviews, 1);
  });

  it("no token is 401; a valid token of anyone else (a function pod's, a user's) is 403", async () => {
    const { hop } = setupHop();
    assert.equal(await code(hop.authenticate(undefined)), "Unauthenticated");
    assert.equal(await code(hop.authenticate("Bearer forged")), "Unauthenticated");
    assert.equal(await code(hop.authenticate("Bearer alice-token")), "Forbidden");
  });

  it("an API server that cannot be asked is AuthUnavailable", async () => {
    const { api, hop } = setupHop();
    api.failing = true;
    assert.equal(await code(hop.authenticate("Bearer activator-token")), "AuthUnavailable");
  });
});
