import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { isNamespaceTerminating } from "./errors.ts";

/** An ApiException as client-node throws it: the HTTP code and the Status body as text. */
const apiError = (code: number, status: unknown) =>
  Object.assign(new Error("HTTP error"), { code, body: JSON.stringify(status) });

describe("isNamespaceTerminating", () => {
  const cases: Array<{ why: string; err: unknown; want: boolean }> = [
    {
      why: "what the API server answers a create in a namespace being deleted",
      err: apiError(403, {
        kind: "Status",
        status: "Failure",
        message:
          'deployments.apps "fn-hello" is forbidden: unable to create new content in namespace demo because it is being terminated',
        reason: "Forbidden",
        details: {
          name: "fn-hello",
          kind: "deployments",
          causes: [
            {
              reason: "NamespaceTerminating",
              message: "namespace demo is being terminated",
              field: "metadata.namespace",
            },
          ],
        },
        code: 403,
      }),
      want: true,
    },
    {
      why: "a 403 of RBAC is a real refusal, retried (and logged as one)",
      err: apiError(403, {
        kind: "Status",
        reason: "Forbidden",
        message: "cannot create deployments",
        code: 403,
      }),
      want: false,
    },
    { why: "not an API error at all", err: new Error("socket hang up"), want: false },
  ];
  for (const c of cases) it(c.why, () => assert.equal(isNamespaceTerminating(c.err), c.want));
});
