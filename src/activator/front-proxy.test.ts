import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { invokePathOf } from "../protocol/aggregated.ts";
import { frontProxyUser } from "./front-proxy.ts";

describe("frontProxyUser", () => {
  const trust = { allowedNames: ["front-proxy-client"] };
  const headers = {
    "x-remote-user": ["jane"],
    "x-remote-group": ["dev", "system:authenticated"],
    "x-remote-extra-scopes": ["a", "b"],
    "x-remote-extra-acme.com%2fproject": ["p1"],
  };
  const cases: Array<{
    why: string;
    peer: { verified: boolean; commonName?: string } | undefined;
    headers?: Record<string, string[] | undefined>;
    want: "refused" | Record<string, unknown>;
  }> = [
    {
      why: "the API server's certificate: the user, every group and the extras (names percent-decoded)",
      peer: { verified: true, commonName: "front-proxy-client" },
      want: {
        username: "jane",
        groups: ["dev", "system:authenticated"],
        extra: { scopes: ["a", "b"], "acme.com/project": ["p1"] },
      },
    },
    { why: "no certificate: anyone could write the headers", peer: undefined, want: "refused" },
    {
      why: "a certificate the requestheader CA did not sign",
      peer: { verified: false, commonName: "front-proxy-client" },
      want: "refused",
    },
    {
      why: "signed by the CA but not an allowed name (another client of that CA)",
      peer: { verified: true, commonName: "someone-else" },
      want: "refused",
    },
    {
      why: "no user named: nothing to authorize",
      peer: { verified: true, commonName: "front-proxy-client" },
      headers: {},
      want: "refused",
    },
  ];
  for (const c of cases)
    it(c.why, () => {
      const got = frontProxyUser(c.peer, c.headers ?? headers, trust);
      if (c.want === "refused") assert.ok("refused" in got, JSON.stringify(got));
      else assert.deepEqual(got, { user: c.want });
    });
  it("with no allowed names, any certificate the CA signed will do (the API server's convention)", () =>
    assert.ok("user" in frontProxyUser({ verified: true, commonName: "x" }, headers, { allowedNames: [] })));
});

describe("invokePathOf", () => {
  const p = "/apis/invoke.updraft.dev/v1alpha1";
  const cases: Array<[string, string, string | undefined]> = [
    [
      "a call",
      `${p}/namespaces/demo/functions/hello/invocations`,
      "/v1/namespaces/demo/functions/hello/invocations",
    ],
    ["a record", `${p}/namespaces/demo/invocations/abc-123`, "/v1/namespaces/demo/invocations/abc-123"],
    [
      "a query string is kept",
      `${p}/namespaces/demo/invocations/abc?x=1`,
      "/v1/namespaces/demo/invocations/abc?x=1",
    ],
    [
      "the kept invocations of a function (list)",
      `${p}/namespaces/demo/invocations?function=hello&limit=5`,
      "/v1/namespaces/demo/invocations?function=hello&limit=5",
    ],
    [
      "a package upload (its SHA-256 in the query)",
      `${p}/namespaces/demo/packages?sha256=${"a".repeat(64)}`,
      `/v1/namespaces/demo/packages?sha256=${"a".repeat(64)}`,
    ],
    // A package is fetched by a function's instances from the activators, with their key.
    ["nor a package fetch", `${p}/namespaces/demo/packages/${"a".repeat(64)}`, undefined],
    [
      "no other path of the invoke API is reachable",
      `${p}/namespaces/demo/functions/hello/dead-letters`,
      undefined,
    ],
    ["nor a path that climbs out", `${p}/namespaces/demo/functions/../../x/invocations`, undefined],
    ["another group", "/apis/updraft.dev/v1alpha1/namespaces/demo/functions/hello/invocations", undefined],
  ];
  for (const [why, url, want] of cases) it(why, () => assert.equal(invokePathOf(url), want));
});
