/**
 * Who may call (docs/security.md), on the local cluster with the chart's defaults: the
 * activators check real ServiceAccount tokens with the real API server's TokenReview and
 * SubjectAccessReview against RBAC — a ServiceAccount bound to updraft-invoker in the
 * function's namespace, one with no binding, and one bound in another namespace.
 */
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import {
  applyYaml,
  componentMetric,
  componentPodIPs,
  deleteNamespace,
  installFullUpdraft,
  kubectlOk,
  newNamespace,
  nodeFunction,
  waitFor,
} from "./harness.ts";

let base = "";
let ns = "";
let other = "";
const tokens = { caller: "", stranger: "", elsewhere: "" };

/** A ServiceAccount in `namespace` and a token for it; bound to updraft-invoker there when `bound`. */
function serviceAccountToken(namespace: string, name: string, bound: boolean): string {
  kubectlOk(
    ["apply", "-n", namespace, "-f", "-"],
    `apiVersion: v1
kind: ServiceAccount
metadata: {name: ${name}}
${
  bound
    ? `---
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata: {name: ${name}-invokes}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: updraft-invoker}
subjects: [{kind: ServiceAccount, name: ${name}, namespace: ${namespace}}]
`
    : ""
}`,
  );
  return kubectlOk(["create", "token", name, "-n", namespace, "--duration=1h"]).trim();
}

async function call(path: string, init: { token?: string; method?: string; authorization?: string } = {}) {
  const headers: Record<string, string> = { "content-type": "application/json" };
  if (init.token) headers.authorization = `Bearer ${init.token}`;
  if (init.authorization) headers.authorization = init.authorization;
  const res = await fetch(`${base}${path}`, {
    method: init.method ?? "POST",
    headers,
    ...((init.method ?? "POST") === "POST" ? { body: '{"name":"auth"}' } : {}),
    signal: AbortSignal.timeout(120_000),
  });
  const text = await res.text();
  let json: { errorCode?: number; errorType?: string; errorMessage?: string } = {};
  try {
    json = JSON.parse(text);
  } catch {
    // an Http trigger's answer may be text
  }
  return { status: res.status, json, text, wwwAuthenticate: res.headers.get("www-authenticate") };
}

const invoke = (fn: string, token?: string) =>
  call(`/v1/namespaces/${ns}/functions/${fn}/invocations`, { token });

describe("invoke API authentication and authorization", () => {
  before(async () => {
    base = await installFullUpdraft();
    ns = await newNamespace("auth");
    other = await newNamespace("auth-other");
    applyYaml(ns, nodeFunction("hello", "exports.main_handler = async (e) => ({ hi: e.name });"));
    for (const [name, auth] of [
      ["open", "None"],
      ["closed", "Kubernetes"],
    ])
      applyYaml(
        ns,
        `apiVersion: updraft.dev/v1alpha1
kind: Trigger
metadata: {name: ${name}}
spec:
  function: hello
  type: Http
  http: {path: /${name}, auth: ${auth}}
`,
      );
    // One call at a time over both activators: one of them admits it, the other relays.
    applyYaml(
      ns,
      nodeFunction(
        "single",
        "exports.main_handler = async () => { await new Promise((r) => setTimeout(r, 2000)); return 'alone'; };",
        "  concurrency: {max: 1, perInstance: 1}\n  scaling: {minInstances: 1}\n",
      ),
    );
    tokens.caller = serviceAccountToken(ns, "caller", true);
    tokens.stranger = serviceAccountToken(ns, "stranger", false);
    tokens.elsewhere = serviceAccountToken(other, "caller", true);
    await waitFor(
      "hello served to its caller",
      async () => (await invoke("hello", tokens.caller)).status === 200,
      120_000,
      500,
    );
    await waitFor(
      "the triggers served",
      async () => (await call(`/http/${ns}/open`)).status === 200,
      60_000,
      500,
    );
  });
  after(async () => {
    await deleteNamespace(ns);
    await deleteNamespace(other);
  });

  it("no token is 401 with a coded body and WWW-Authenticate: Bearer", async () => {
    const r = await invoke("hello");
    assert.equal(r.status, 401);
    assert.equal(r.json.errorType, "Unauthenticated");
    assert.equal(r.json.errorCode, 401);
    assert.match(r.wwwAuthenticate ?? "", /^Bearer/);
  });

  it("a token the API server does not take is 401, and so is another scheme", async () => {
    const forged = `${tokens.caller.slice(0, -4)}AAAA`;
    assert.equal((await invoke("hello", forged)).status, 401);
    assert.equal(
      (await call(`/v1/namespaces/${ns}/functions/hello/invocations`, { authorization: "Basic eDp5" }))
        .status,
      401,
    );
  });

  it("a ServiceAccount without the invoke verb is 403 with a coded body naming what it lacks", async () => {
    const r = await invoke("hello", tokens.stranger);
    assert.equal(r.status, 403);
    assert.equal(r.json.errorType, "Forbidden");
    assert.match(
      r.json.errorMessage ?? "",
      new RegExp(`may not invoke functions.updraft.dev "hello" in namespace "${ns}"`),
    );
  });

  it("one bound to updraft-invoker calls its namespace's function; bound in another namespace it may not", async () => {
    const ok = await invoke("hello", tokens.caller);
    assert.equal(ok.status, 200);
    assert.deepEqual(JSON.parse(ok.text), { hi: "auth" });
    assert.equal((await invoke("hello", tokens.elsewhere)).status, 403);
  });

  it("an unknown function is 403 to a stranger (nothing learnt), 435 to a caller with the verb", async () => {
    assert.equal((await invoke("nobody", tokens.stranger)).status, 403);
    assert.equal((await invoke("nobody", tokens.caller)).status, 435);
  });

  it("invocation records need `get` on invocations.updraft.dev in the namespace", async () => {
    const path = `/v1/namespaces/${ns}/invocations/00000000-0000-0000-0000-000000000000`;
    assert.equal((await call(path, { method: "GET" })).status, 401);
    assert.equal((await call(path, { method: "GET", token: tokens.stranger })).status, 403);
    const r = await call(path, { method: "GET", token: tokens.caller });
    assert.equal(r.status, 404, "allowed, and there is no such record");
    assert.equal(r.json.errorType, "InvocationNotFound");
  });

  it("Http triggers: anonymous when auth None, a token with invoke when auth Kubernetes", async () => {
    assert.equal((await call(`/http/${ns}/open`)).status, 200);
    const none = await call(`/http/${ns}/closed`);
    assert.equal(none.status, 401);
    assert.equal(none.json.errorCode, 401);
    assert.equal((await call(`/http/${ns}/closed`, { token: tokens.stranger })).status, 403);
    assert.equal((await call(`/http/${ns}/closed`, { token: tokens.caller })).status, 200);
  });

  it("decisions are cached: 40 calls with one token ask the API server at most once per activator", async () => {
    const activators = (await componentPodIPs("activator")).length;
    const reviews = async () => ({
      token: await componentMetric("activator", "updraft_activator_auth_reviews_total", { review: "token" }),
      access: await componentMetric("activator", "updraft_activator_auth_reviews_total", {
        review: "access",
      }),
    });
    await invoke("hello", tokens.caller); // this activator has it cached now, the other maybe not
    const before = await reviews();
    for (let i = 0; i < 40; i++) assert.equal((await invoke("hello", tokens.caller)).status, 200);
    const afterwards = await reviews();
    assert.ok(
      afterwards.token - before.token <= activators,
      `token reviews ${afterwards.token - before.token}`,
    );
    assert.ok(
      afterwards.access - before.access <= activators,
      `access reviews ${afterwards.access - before.access}`,
    );
  });

  it("a caller cannot pass a request off as relayed by another activator: concurrency.max 1 still admits one", async () => {
    await waitFor(
      "single answers",
      async () => (await invoke("single", tokens.caller)).status === 200,
      120_000,
      500,
    );
    const activators = await componentPodIPs("activator");
    assert.equal(activators.length, 2, "the chart's two activators");
    // One call to each activator at once, each claiming to be relayed (the header an
    // activator sets when it sends a call on to the admitting one). Honoured, each replica
    // would run one — two at once over max 1; ignored, the non-admitter relays its call
    // and the admitter refuses whichever comes second with 432.
    const results = await Promise.all(
      activators.map(async (ip) => {
        const res = await fetch(`http://${ip}:8080/v1/namespaces/${ns}/functions/single/invocations`, {
          method: "POST",
          headers: {
            "content-type": "application/json",
            authorization: `Bearer ${tokens.caller}`,
            "x-updraft-relayed": "true",
          },
          body: "{}",
          signal: AbortSignal.timeout(60_000),
        });
        return { status: res.status, body: await res.text() };
      }),
    );
    const statuses = results.map((r) => r.status).sort();
    assert.deepEqual(statuses, [200, 432], JSON.stringify(results));
    const refused = results.find((r) => r.status === 432)!;
    assert.equal((JSON.parse(refused.body) as { errorCode: number }).errorCode, 432);
  });
});
