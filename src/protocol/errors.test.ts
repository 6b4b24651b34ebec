import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { EDGE_ERRORS, edgeError } from "./errors.ts";

describe("the edge's error table", () => {
  const cases: Array<{ why: string; code: string; want: { sync: number; http: number; scf: number } }> = [
    {
      why: "over concurrency.max is SCF's 432 on the invoke API; a web client gets a standard 429",
      code: "ConcurrencyLimit",
      want: { sync: 432, http: 429, scf: 432 },
    },
    {
      why: "no token (or one the API server refuses) is 401 everywhere: a web client knows to authenticate",
      code: "Unauthenticated",
      want: { sync: 401, http: 401, scf: 401 },
    },
    {
      why: "the API server could not be asked: 503, to be retried, not a refusal",
      code: "AuthUnavailable",
      want: { sync: 503, http: 503, scf: 500 },
    },
    {
      why: "an unknown function is SCF's 435; behind an Http trigger a plain 404",
      code: "FunctionNotFound",
      want: { sync: 435, http: 404, scf: 435 },
    },
    {
      why: "an activator at its limits says 503 (with Retry-After), SCF's InternalError in the body",
      code: "ActivatorOverloaded",
      want: { sync: 503, http: 503, scf: 500 },
    },
    {
      why: "a code the table does not know is internal: 500, and 502 behind an Http trigger",
      code: "SomethingElse",
      want: { sync: 500, http: 502, scf: 500 },
    },
    {
      why: "an inherited property name is not a code",
      code: "toString",
      want: { sync: 500, http: 502, scf: 500 },
    },
  ];
  for (const c of cases) it(c.why, () => assert.deepEqual(edgeError(c.code), c.want));

  it("every status is a real HTTP status, and an Http trigger's are standard ones", () => {
    for (const [code, e] of Object.entries(EDGE_ERRORS)) {
      assert.ok(e.sync >= 400 && e.sync < 600, code);
      assert.ok(
        [400, 401, 403, 404, 405, 408, 411, 413, 429, 501, 502, 503].includes(e.http),
        `${code}: ${e.http}`,
      );
    }
  });
});
