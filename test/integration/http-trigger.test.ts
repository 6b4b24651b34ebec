/**
 * HTTP triggers on the local cluster, through the activator's Service: the API-gateway
 * event, integrated responses, 404/405, namespace isolation, and 429 with Retry-After
 * over a function's concurrency limit.
 */
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import {
  applyYaml,
  deleteNamespace,
  getTrigger,
  installFullUpdraft,
  newNamespace,
  nodeFunction,
  waitFor,
} from "./harness.ts";

let base = "";
let ns = "";
let otherNs = "";

const httpTrigger = (name: string, fn: string, http: string) => `apiVersion: updraft.dev/v1alpha1
kind: Trigger
metadata: {name: ${name}}
spec:
  function: ${fn}
  type: Http
  http: ${http}
`;

/** Requests the path until the activator serves it (its Trigger informer caught up). */
async function served(namespace: string, path: string): Promise<void> {
  await waitFor(
    `${path} served`,
    async () => (await fetch(`${base}/http/${namespace}${path}`, { method: "OPTIONS" })).status !== 404,
    60_000,
    200,
  );
}

describe("HTTP triggers", () => {
  before(async () => {
    base = await installFullUpdraft();
    ns = await newNamespace("http");
    otherNs = await newNamespace("http-other");
    applyYaml(
      ns,
      nodeFunction(
        "echo",
        `exports.main_handler = async (event) => ({
  method: event.httpMethod, path: event.path, query: event.queryString,
  body: event.body, base64: event.isBase64Encoded, ua: event.headers["user-agent"],
  triggerPath: event.requestContext.path,
});`,
      ),
    );
    applyYaml(ns, httpTrigger("echo", "echo", "{path: /echo}"));
    applyYaml(
      ns,
      nodeFunction(
        "page",
        `exports.main_handler = async (event) => ({
  isBase64Encoded: false, statusCode: 201,
  headers: {"Content-Type": "text/html", "Set-Cookie": ["a=1", "b=2"]},
  body: "<p>" + event.path + "</p>",
});`,
      ),
    );
    applyYaml(ns, httpTrigger("page", "page", "{path: /page, methods: [GET], integratedResponse: true}"));
    applyYaml(
      ns,
      nodeFunction(
        "slow",
        "exports.main_handler = async () => { await new Promise((r) => setTimeout(r, 1500)); return 'done'; };",
        "  concurrency: {max: 2, perInstance: 2}\n  scaling: {minInstances: 1}\n",
      ),
    );
    applyYaml(ns, httpTrigger("slow", "slow", "{path: /slow}"));
    applyYaml(
      ns,
      `apiVersion: updraft.dev/v1alpha1
kind: Function
metadata: {name: web}
spec:
  runtime: custom
  type: Web
  code: {inline: {scf_bootstrap: "#!/bin/sh\\nexit 0\\n"}}
`,
    );
    applyYaml(ns, httpTrigger("web", "web", "{path: /web}"));
    await Promise.all([served(ns, "/echo"), served(ns, "/page"), served(ns, "/slow"), served(ns, "/web")]);
  });
  after(async () => {
    await deleteNamespace(ns);
    await deleteNamespace(otherNs);
  });

  it("the function receives SCF's API-gateway event and its return value is the answer", async () => {
    const res = await fetch(`${base}/http/${ns}/echo/items/7?lang=en&x=1`, {
      method: "POST",
      headers: { "content-type": "application/json", "user-agent": "updraft-test" },
      body: '{"hello":"world"}',
      signal: AbortSignal.timeout(120_000),
    });
    assert.equal(res.status, 200);
    assert.ok(res.headers.get("x-updraft-request-id"));
    assert.deepEqual(await res.json(), {
      method: "POST",
      path: "/echo/items/7",
      query: { lang: "en", x: "1" },
      body: '{"hello":"world"}',
      base64: false,
      ua: "updraft-test",
      triggerPath: "/echo",
    });
  });

  it("an integrated response sets status, headers (repeated ones too) and body", async () => {
    const res = await fetch(`${base}/http/${ns}/page/about`, { signal: AbortSignal.timeout(120_000) });
    assert.equal(res.status, 201);
    assert.equal(res.headers.get("content-type"), "text/html");
    assert.deepEqual(res.headers.getSetCookie(), ["a=1", "b=2"]);
    assert.equal(await res.text(), "<p>/page/about</p>");
  });

  it("the Trigger's status.url is where it is served", async () => {
    const t = await waitFor(
      "status.url",
      async () => {
        const got = await getTrigger(ns, "page");
        return (got.status as { url?: string } | undefined)?.url ? got : undefined;
      },
      30_000,
    );
    assert.match((t.status as { url: string }).url, new RegExp(`/http/${ns}/page$`));
  });

  it("an unknown path is 404, another method 405, both with SCF's error body", async () => {
    const nf = await fetch(`${base}/http/${ns}/nowhere`);
    assert.equal(nf.status, 404);
    assert.equal(((await nf.json()) as { errorType: string }).errorType, "NotFound");
    const na = await fetch(`${base}/http/${ns}/page`, { method: "DELETE" });
    assert.equal(na.status, 405);
    await na.arrayBuffer();
  });

  it("a Web function behind an Http trigger is refused clearly (501), not run as an Event function", async () => {
    const res = await fetch(`${base}/http/${ns}/web`);
    assert.equal(res.status, 501);
    assert.equal(((await res.json()) as { errorType: string }).errorType, "NotImplemented");
  });

  it("a namespace cannot reach another namespace's trigger", async () => {
    const res = await fetch(`${base}/http/${otherNs}/echo`);
    assert.equal(res.status, 404);
    await res.arrayBuffer();
  });

  it("over concurrency.max an HTTP caller gets 429 with Retry-After, and the calls in flight finish", async () => {
    // max 2 over the 2 activators: 1 each. 8 at once: at most 2 run, the rest are refused.
    const results = await Promise.all(
      Array.from({ length: 8 }, async () => {
        const r = await fetch(`${base}/http/${ns}/slow`, { signal: AbortSignal.timeout(120_000) });
        return { status: r.status, retryAfter: r.headers.get("retry-after"), body: await r.text() };
      }),
    );
    const ok = results.filter((r) => r.status === 200);
    const refused = results.filter((r) => r.status === 429);
    assert.ok(ok.length >= 1 && ok.length <= 2, JSON.stringify(results));
    assert.equal(ok.length + refused.length, 8, JSON.stringify(results));
    for (const r of ok) assert.equal(r.body, "done");
    for (const r of refused) {
      assert.equal(r.retryAfter, "1");
      const body = JSON.parse(r.body) as { errorCode: number; errorType: string };
      assert.deepEqual([body.errorCode, body.errorType], [432, "ConcurrencyLimit"]);
    }
  });
});
