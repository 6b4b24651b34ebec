/**
 * HTTP triggers on the local cluster, through the activator's Service: the API-gateway
 * event, integrated responses, 404/405, namespace isolation, and 429 with Retry-After
 * over a function's concurrency limit.
 */
import assert from "node:assert/strict";
import { request as httpRequest, type IncomingHttpHeaders } from "node:http";
import { after, before, describe, it } from "node:test";
import {
  applyYaml,
  deleteNamespace,
  getTrigger,
  installFullUpdraft,
  invokeAuth,
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
  triggerPath: event.requestContext.path, params: event.pathParameters,
});`,
      ),
    );
    applyYaml(ns, httpTrigger("echo", "echo", "{path: /echo}"));
    applyYaml(ns, httpTrigger("echo-item", "echo", '{path: "/shop/{shopId}/items/{itemId}"}'));
    applyYaml(
      ns,
      nodeFunction(
        "page",
        `exports.main_handler = async (event) => ({
  isBase64Encoded: false, statusCode: 201,
  headers: {"Content-Type": "text/html", "Set-Cookie": ["a=1", "b=2", "c=3\\r\\nX-Smuggled: yes"],
    "X-Injected": "1\\r\\nX-Smuggled: yes", "Connection": "close", "X-File": "\u6587.txt"},
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
  runtime: nodejs24
  type: Web
  concurrency: {perInstance: 4}
  code:
    inline:
      scf_bootstrap: |
        #!/bin/sh
        exec node server.js
      server.js: |
        const http = require("node:http");
        http.createServer((req, res) => {
          const chunks = [];
          req.on("data", (c) => chunks.push(c));
          req.on("end", () => {
            if (req.url.startsWith("/web/huge")) {
              res.writeHead(200, { "content-type": "text/plain" });
              return res.end("x".repeat(7 * 1024 * 1024));
            }
            if (req.url.startsWith("/web/unavailable")) {
              res.writeHead(503, { "retry-after": "7" });
              return res.end("the app's own 503");
            }
            res.writeHead(201, { "x-app": "yes", "set-cookie": ["a=1", "b=2"], "content-type": "application/json" });
            res.end(JSON.stringify({
              method: req.method,
              url: req.url,
              requestId: req.headers["x-scf-request-id"],
              memory: req.headers["x-scf-memory"],
              custom: req.headers["x-custom"],
              leaked: Object.keys(req.headers).filter((h) => h.startsWith("x-updraft-")),
              body: Buffer.concat(chunks).toString(),
            }));
          });
        }).listen(9000, "0.0.0.0");
---
apiVersion: updraft.dev/v1alpha1
kind: Function
metadata: {name: web-dead}
spec:
  runtime: custom
  type: Web
  code: {inline: {scf_bootstrap: "#!/bin/sh\\nexit 3\\n"}}
---
apiVersion: updraft.dev/v1alpha1
kind: Function
metadata: {name: web-noport}
spec:
  runtime: custom
  type: Web
  initTimeoutSeconds: 2
  code: {inline: {scf_bootstrap: "#!/bin/sh\\nexec sleep 3600\\n"}}
`,
    );
    applyYaml(ns, httpTrigger("web", "web", "{path: /web}"));
    applyYaml(ns, httpTrigger("web-dead", "web-dead", "{path: /web-dead}"));
    applyYaml(ns, httpTrigger("web-noport", "web-noport", "{path: /web-noport}"));
    await Promise.all(
      ["/echo", "/shop/s/items/i", "/page", "/slow", "/web", "/web-dead", "/web-noport"].map((p) =>
        served(ns, p),
      ),
    );
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
      params: {},
    });
  });

  it("API gateway's path parameters: a trigger on /shop/{shopId}/items/{itemId} gives the function each segment's value", async () => {
    const res = await fetch(`${base}/http/${ns}/shop/tea%20house/items/42`, {
      signal: AbortSignal.timeout(120_000),
    });
    assert.equal(res.status, 200);
    const ev = (await res.json()) as { path: string; triggerPath: string; params: unknown };
    assert.deepEqual(ev.params, { shopId: "tea house", itemId: "42" });
    assert.equal(ev.triggerPath, "/shop/{shopId}/items/{itemId}");
    assert.equal(ev.path, "/shop/tea%20house/items/42");
    // A parameter needs its segment: /shop/x/items is below no trigger.
    assert.equal((await fetch(`${base}/http/${ns}/shop/x/items`)).status, 404);
  });

  it("an integrated response sets status, headers (repeated ones too) and body; CR/LF and hop-by-hop headers are dropped", async () => {
    const res = await fetch(`${base}/http/${ns}/page/about`, { signal: AbortSignal.timeout(120_000) });
    assert.equal(res.status, 201);
    assert.equal(res.headers.get("content-type"), "text/html");
    assert.deepEqual(res.headers.getSetCookie(), ["a=1", "b=2"], "the cookie with CR/LF is dropped");
    assert.equal(res.headers.get("x-injected"), null);
    assert.equal(res.headers.get("x-smuggled"), null, "no header split off a value");
    assert.notEqual(res.headers.get("connection"), "close", "the function does not frame the connection");
    // Node.js sends header text as latin1: the value goes as its UTF-8 bytes.
    assert.equal(Buffer.from(res.headers.get("x-file") ?? "", "latin1").toString("utf8"), "\u6587.txt");
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

  it("a path that names a parameter twice is not served, and its Trigger's Ready says why", async () => {
    // Served first with two names, so that the 404 after the change is the activator
    // dropping the route, not a route it has not learnt yet.
    applyYaml(ns, httpTrigger("twice", "echo", '{path: "/user/{id}/friend/{friendId}"}'));
    const served = () =>
      fetch(`${base}/http/${ns}/user/1/friend/2`, { signal: AbortSignal.timeout(120_000) });
    await waitFor(
      "served with two names",
      async () => {
        const r = await served();
        await r.arrayBuffer();
        return r.status === 200;
      },
      60_000,
    );
    applyYaml(ns, httpTrigger("twice", "echo", '{path: "/user/{id}/friend/{id}"}'));
    const t = await waitFor(
      "Ready=False",
      async () => {
        const got = await getTrigger(ns, "twice");
        const st = got.status as
          | {
              observedGeneration?: number;
              url?: string;
              conditions?: Array<{ type: string; status: string; reason: string; message: string }>;
            }
          | undefined;
        const ready = st?.conditions?.find((c) => c.type === "Ready");
        return ready?.status === "False" && st?.observedGeneration === got.metadata?.generation
          ? { st, ready }
          : undefined;
      },
      30_000,
    );
    assert.equal(t.ready.reason, "PathParameterRepeated");
    assert.match(t.ready.message, /\{id\} more than once/);
    assert.equal(t.st.url, undefined, "no URL for a path that is not served");
    const res = await waitFor(
      "no longer served",
      async () => {
        const r = await served();
        if (r.status === 404) return r;
        await r.arrayBuffer();
        return undefined;
      },
      30_000,
    );
    assert.equal(((await res.json()) as { errorType: string }).errorType, "NotFound");
  });

  it("an unknown path is 404, another method 405, both with SCF's error body", async () => {
    const nf = await fetch(`${base}/http/${ns}/nowhere`);
    assert.equal(nf.status, 404);
    assert.equal(((await nf.json()) as { errorType: string }).errorType, "NotFound");
    const na = await fetch(`${base}/http/${ns}/page`, { method: "DELETE" });
    assert.equal(na.status, 405);
    await na.arrayBuffer();
  });

  it("a Web function gets the raw request with SCF's X-Scf-* headers, and its answer comes back as it is", async () => {
    const res = await fetch(`${base}/http/${ns}/web/items?x=1&y=2`, {
      method: "PUT",
      headers: { "x-custom": "kept", "content-type": "text/plain" },
      body: "raw body",
    });
    assert.equal(res.status, 201, "the app's own status");
    assert.equal(res.headers.get("x-app"), "yes");
    assert.deepEqual(res.headers.getSetCookie(), ["a=1", "b=2"], "a repeated header stays repeated");
    const requestId = res.headers.get("x-updraft-request-id");
    const got = (await res.json()) as Record<string, unknown>;
    assert.deepEqual(got, {
      method: "PUT",
      url: "/web/items?x=1&y=2",
      requestId,
      memory: "128",
      custom: "kept",
      leaked: [],
      body: "raw body",
    });
  });

  it("a Web function's own 503 is its answer, not an instance refusal retried elsewhere", async () => {
    const res = await fetch(`${base}/http/${ns}/web/unavailable`);
    assert.equal(res.status, 503);
    assert.equal(res.headers.get("retry-after"), "7");
    assert.equal(await res.text(), "the app's own 503");
  });

  it("a Web function's answer over 6 MB is not passed on: 502 with SCF's 407 in the body", async () => {
    const res = await fetch(`${base}/http/${ns}/web/huge`);
    assert.equal(res.status, 502);
    const body = (await res.json()) as { errorCode: number; errorType: string };
    assert.equal(body.errorCode, 407);
    assert.equal(body.errorType, "ResultTooLarge");
  });

  it("a Web function whose process exited answers 405, one whose port never opened 446 (SCF's codes)", async () => {
    const dead = await fetch(`${base}/http/${ns}/web-dead`);
    assert.equal(dead.status, 405);
    assert.equal(((await dead.json()) as { errorCode: number }).errorCode, 405);
    const noport = await fetch(`${base}/http/${ns}/web-noport`);
    assert.equal(noport.status, 446);
    assert.equal(((await noport.json()) as { errorCode: number }).errorCode, 446);
  });

  it("a Web function takes no invoke API calls, sync or async", async () => {
    for (const type of ["RequestResponse", "Event"]) {
      const res = await fetch(`${base}/v1/namespaces/${ns}/functions/web/invocations`, {
        method: "POST",
        headers: { ...invokeAuth(), "X-Updraft-Invocation-Type": type },
        body: "{}",
      });
      assert.equal(res.status, 400, type);
      assert.equal(((await res.json()) as { errorType: string }).errorType, "InvalidInvocationType");
    }
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

/** One request to the activator with a Host header of our choosing (fetch may not set Host). */
function requestWithHost(
  host: string,
  path: string,
): Promise<{ status: number; body: string; headers: IncomingHttpHeaders }> {
  const url = new URL(base);
  return new Promise((resolve, reject) => {
    const req = httpRequest(
      { host: url.hostname, port: url.port, path, headers: { host }, timeout: 120_000 },
      (res) => {
        const chunks: Buffer[] = [];
        res.on("data", (c: Buffer) => chunks.push(c));
        res.on("end", () =>
          resolve({
            status: res.statusCode ?? 0,
            body: Buffer.concat(chunks).toString(),
            headers: res.headers,
          }),
        );
      },
    );
    req.on("error", reject);
    req.end();
  });
}

describe("HTTP triggers at a host per namespace (http.namespaceDomain)", () => {
  const domain = "fn.updraft.test";
  let hostNs = "";
  let neighbourNs = "";
  before(async () => {
    base = await installFullUpdraft({ "http.namespaceDomain": domain, "http.namespaceScheme": "https" });
    hostNs = await newNamespace("hosts");
    neighbourNs = await newNamespace("hosts-other");
    applyYaml(
      hostNs,
      nodeFunction(
        "where",
        "exports.main_handler = async (event) => ({ path: event.path, query: event.queryString });",
      ),
    );
    applyYaml(hostNs, httpTrigger("where", "where", "{path: /where}"));
    // concurrency.max: one activator admits it, the other relays to it — with the Host.
    applyYaml(
      hostNs,
      nodeFunction(
        "limited",
        "exports.main_handler = async () => 'one at a time';",
        "  concurrency: {max: 2}\n",
      ),
    );
    applyYaml(hostNs, httpTrigger("limited", "limited", "{path: /limited}"));
    await waitFor(
      "the trigger served at its namespace's host",
      async () => (await requestWithHost(`${hostNs}.${domain}`, "/where")).status === 200,
      120_000,
      300,
    );
  });
  after(async () => {
    await deleteNamespace(hostNs);
    await deleteNamespace(neighbourNs);
  });

  it("a namespace's trigger answers at {namespace}.{domain} with the whole path its own", async () => {
    const res = await requestWithHost(`${hostNs}.${domain}:8080`, "/where/x?a=1");
    assert.equal(res.status, 200, res.body);
    assert.deepEqual(JSON.parse(res.body), { path: "/where/x", query: { a: "1" } });
  });

  it("a function with concurrency.max is served at its host through either activator (the relay keeps the Host)", async () => {
    // Through the Service, calls land on both activators; the one that does not admit the
    // function relays them. Ten in a row: the chance that none is relayed is 1 in 1,024.
    for (let i = 0; i < 10; i++) {
      const res = await requestWithHost(`${hostNs}.${domain}`, "/limited");
      assert.equal(res.status, 200, res.body);
      assert.equal(res.body, "one at a time");
    }
  });

  it("the Trigger's status.url is its namespace's host", async () => {
    const t = await waitFor(
      "status.url",
      async () => {
        const o = await getTrigger(hostNs, "where");
        return (o.status as { url?: string } | undefined)?.url?.includes(domain) ? o : undefined;
      },
      60_000,
    );
    assert.equal((t.status as { url: string }).url, `https://${hostNs}.${domain}/where`);
  });

  it("another namespace's host does not serve it, and the shared /http/ path is closed (404, coded)", async () => {
    const neighbour = await requestWithHost(`${neighbourNs}.${domain}`, "/where");
    assert.equal(neighbour.status, 404, neighbour.body);
    const shared = await fetch(`${base}/http/${hostNs}/where`);
    assert.equal(shared.status, 404);
    const body = (await shared.json()) as { errorType: string; errorMessage: string };
    assert.equal(body.errorType, "NotFound");
    assert.match(
      body.errorMessage,
      new RegExp(`served at \\{namespace\\}\\.${domain.replaceAll(".", "\\.")}`),
    );
  });
});
