import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { resolve } from "node:path";
import { describe, it } from "node:test";
import type { UpdraftTrigger } from "../api/v1alpha1.ts";
import {
  apiGatewayEvent,
  HttpRoutes,
  httpAnswer,
  INVALID_RESPONSE,
  parseHttpHost,
  parseHttpUrl,
} from "./http-trigger.ts";

function trig(
  name: string,
  path: string,
  extra: {
    ns?: string;
    methods?: string[];
    enabled?: boolean;
    created?: string;
    type?: "Http" | "Timer";
  } = {},
): UpdraftTrigger {
  return {
    apiVersion: "updraft.dev/v1alpha1",
    kind: "Trigger",
    metadata: {
      name,
      namespace: extra.ns ?? "demo",
      creationTimestamp: (extra.created ?? "2026-01-01T00:00:00Z") as unknown as Date,
    },
    spec: {
      function: `fn-of-${name}`,
      type: extra.type ?? "Http",
      ...(extra.enabled === false ? { enabled: false } : {}),
      http: { path, ...(extra.methods ? { methods: extra.methods } : {}) },
    },
  };
}

describe("HttpRoutes", () => {
  const routes = new HttpRoutes();
  routes.setTriggers([
    trig("hello", "/hello"),
    trig("deep", "/hello/deep/"),
    trig("posts", "/posts", { methods: ["POST"] }),
    trig("off", "/off", { enabled: false }),
    trig("timer", "/timer", { type: "Timer" }),
    trig("other-ns", "/elsewhere", { ns: "other" }),
    trig("young", "/dup", { created: "2026-02-01T00:00:00Z" }),
    trig("old", "/dup", { created: "2026-01-01T00:00:00Z" }),
    trig("article", "/article/{articleId}"),
    trig("article-list", "/article/list"),
    trig("comment", "/article/{articleId}/comments/{commentId}"),
    // Same depth, one literal each: the earlier literal wins, whatever the names' lengths.
    trig("any-b", "/{aVeryLongParameterName}/b"),
    trig("x-any", "/x/{c}"),
    // Not served: pathParameters could hold only one of the two ids (Ready=False says so).
    trig("twice", "/user/{id}/friend/{id}"),
  ]);
  const cases: Array<{ why: string; ns: string; path: string; method: string; want: string }> = [
    { why: "exact path", ns: "demo", path: "/hello", method: "GET", want: "found:hello" },
    {
      why: "a path that names a parameter twice is not served",
      ns: "demo",
      path: "/user/1/friend/2",
      method: "GET",
      want: "none",
    },
    {
      why: "a sub-path belongs to the prefix",
      ns: "demo",
      path: "/hello/x/y",
      method: "GET",
      want: "found:hello",
    },
    { why: "the longest prefix wins", ns: "demo", path: "/hello/deep/z", method: "GET", want: "found:deep" },
    {
      why: "a prefix is whole segments: /helloworld is not /hello",
      ns: "demo",
      path: "/helloworld",
      method: "GET",
      want: "none",
    },
    { why: "methods are honoured", ns: "demo", path: "/posts", method: "POST", want: "found:posts" },
    {
      why: "another method on a served path is 405, not 404",
      ns: "demo",
      path: "/posts",
      method: "GET",
      want: "method:posts",
    },
    { why: "disabled triggers serve nothing", ns: "demo", path: "/off", method: "GET", want: "none" },
    { why: "only Http triggers route", ns: "demo", path: "/timer", method: "GET", want: "none" },
    {
      why: "a namespace never reaches another's triggers",
      ns: "demo",
      path: "/elsewhere",
      method: "GET",
      want: "none",
    },
    {
      why: "same path twice: the older trigger serves it",
      ns: "demo",
      path: "/dup",
      method: "GET",
      want: "found:old",
    },
  ];
  for (const c of cases) {
    it(c.why, () => {
      const m = routes.match(c.ns, c.path, c.method);
      assert.equal(m.kind === "none" ? "none" : `${m.kind}:${m.route.trigger}`, c.want);
    });
  }

  // API gateway's path parameters: a {name} segment matches one segment.
  const params: Array<{ why: string; path: string; want: string; parameters?: Record<string, string> }> = [
    {
      why: "a parameter takes its segment's value",
      path: "/article/12",
      want: "article",
      parameters: { articleId: "12" },
    },
    {
      why: "a parameter's value is URL-decoded",
      path: "/article/caf%C3%A9",
      want: "article",
      parameters: { articleId: "café" },
    },
    {
      why: "a literal segment wins over a parameter in its place, as API gateway chooses",
      path: "/article/list",
      want: "article-list",
      parameters: {},
    },
    {
      why: "the deeper template serves its paths, with every parameter",
      path: "/article/7/comments/3",
      want: "comment",
      parameters: { articleId: "7", commentId: "3" },
    },
    {
      why: "a template serves the paths below it, as a plain path does",
      path: "/article/7/photos",
      want: "article",
      parameters: { articleId: "7" },
    },
    {
      why: "a parameter needs a segment: /article alone is not /article/{articleId}",
      path: "/article",
      want: "none",
    },
    { why: "an empty segment is no value", path: "/article//comments/3", want: "none" },
    {
      why: "of two as deep and as literal, the one literal further left serves (/x/{c} over /{a}/b for /x/b)",
      path: "/x/b",
      want: "x-any",
      parameters: { c: "b" },
    },
    {
      why: "the other still serves what only it matches",
      path: "/y/b",
      want: "any-b",
      parameters: { aVeryLongParameterName: "y" },
    },
  ];
  for (const c of params)
    it(c.why, () => {
      const m = routes.match("demo", c.path, "GET");
      assert.equal(m.kind === "none" ? "none" : m.route.trigger, c.want);
      if (m.kind === "found") assert.deepEqual(m.pathParameters, c.parameters);
    });
});

describe("parseHttpHost", () => {
  const domain = "fn.example.com";
  const cases: Array<{
    why: string;
    host: string | undefined;
    url: string;
    want: { namespace: string; path: string; query: string } | undefined;
  }> = [
    {
      why: "the label before the domain is the namespace; the whole path is the trigger's",
      host: "shop.fn.example.com",
      url: "/cart/1?x=1",
      want: { namespace: "shop", path: "/cart/1", query: "x=1" },
    },
    {
      why: "a port and a trailing dot are not part of the name; host names are case-insensitive",
      host: "Shop.FN.example.com.:8080",
      url: "/",
      want: { namespace: "shop", path: "/", query: "" },
    },
    {
      why: "two labels before the domain are no namespace's",
      host: "a.shop.fn.example.com",
      url: "/",
      want: undefined,
    },
    { why: "the domain itself is no namespace's", host: "fn.example.com", url: "/", want: undefined },
    { why: "another domain is not served", host: "shop.example.org", url: "/", want: undefined },
    {
      why: "a name that only ends like the domain is not under it",
      host: "shopfn.example.com",
      url: "/",
      want: undefined,
    },
    { why: "no Host header, no namespace", host: undefined, url: "/", want: undefined },
    {
      why: "an absolute-form or odd request target is not a path",
      host: "shop.fn.example.com",
      url: "http://x/",
      want: undefined,
    },
  ];
  for (const c of cases) it(c.why, () => assert.deepEqual(parseHttpHost(c.host, c.url, domain), c.want));
});

describe("parseHttpUrl", () => {
  it("splits namespace, path and query", () => {
    assert.deepEqual(parseHttpUrl("/http/demo/hello/x?lang=en&a=1"), {
      namespace: "demo",
      path: "/hello/x",
      query: "lang=en&a=1",
    });
    assert.deepEqual(parseHttpUrl("/http/demo"), { namespace: "demo", path: "/", query: "" });
  });
  it("is not an HTTP trigger URL otherwise", () => {
    assert.equal(parseHttpUrl("/v1/namespaces/demo/functions/f/invocations"), undefined);
    assert.equal(parseHttpUrl("/http/Bad_NS/x"), undefined);
  });
});

describe("apiGatewayEvent", () => {
  const route = new HttpRoutes();
  route.setTriggers([trig("article", "/article")]);
  const r = route.match("demo", "/article/2", "GET");
  assert.equal(r.kind, "found");
  const found = (r as { route: Parameters<typeof apiGatewayEvent>[1] }).route;

  it("has SCF's API-gateway shape (the keys of the shared fixture)", () => {
    const fixture = JSON.parse(
      readFileSync(resolve(import.meta.dirname, "../../test/fixtures/events/apigw-request.json"), "utf8"),
    ) as Record<string, Record<string, unknown>>;
    const ev = apiGatewayEvent(
      {
        method: "GET",
        path: "/article/2",
        query: "lang=en",
        headers: { accept: "application/json", "User-Agent": "curl/8.0" },
        body: Buffer.alloc(0),
        sourceIp: "10.244.0.7",
        requestId: "rid-1",
      },
      found,
    ) as Record<string, Record<string, unknown>>;
    assert.deepEqual(Object.keys(ev).sort(), Object.keys(fixture).sort());
    assert.deepEqual(Object.keys(ev.requestContext!).sort(), Object.keys(fixture.requestContext!).sort());
    assert.equal(ev.path, "/article/2");
    assert.equal(ev.httpMethod, "GET");
    assert.deepEqual(ev.queryString, { lang: "en" });
    assert.deepEqual(ev.queryStringParameters, { lang: "en" });
    assert.equal(ev.requestContext!.path, "/article");
    assert.equal(ev.requestContext!.requestId, "rid-1");
    assert.equal(ev.requestContext!.sourceIp, "10.244.0.7");
    assert.equal((ev.headers as Record<string, string>)["user-agent"], "curl/8.0");
    assert.equal(ev.body, "");
    assert.equal(ev.isBase64Encoded, false);
    assert.deepEqual(ev.pathParameters, {});
  });

  it("a template's path parameters are the event's pathParameters; requestContext.path is the template", () => {
    const routes = new HttpRoutes();
    routes.setTriggers([trig("one", "/article/{articleId}")]);
    const m = routes.match("demo", "/article/5", "GET");
    assert.equal(m.kind, "found");
    const { route: r5, pathParameters } = m as Extract<typeof m, { kind: "found" }>;
    const ev = apiGatewayEvent(
      {
        method: "GET",
        path: "/article/5",
        query: "",
        headers: {},
        body: Buffer.alloc(0),
        sourceIp: "",
        requestId: "r",
      },
      r5,
      pathParameters,
    ) as Record<string, Record<string, unknown>>;
    assert.deepEqual(ev.pathParameters, { articleId: "5" });
    assert.equal(ev.requestContext!.path, "/article/{articleId}");
    assert.equal(ev.path, "/article/5");
  });

  it("sends text bodies as text and binary ones as base64", () => {
    const base = { method: "POST", path: "/article", query: "", sourceIp: "", requestId: "r" };
    const json = apiGatewayEvent(
      { ...base, headers: { "content-type": "application/json" }, body: Buffer.from('{"a":1}') },
      found,
    );
    assert.deepEqual([json.body, json.isBase64Encoded], ['{"a":1}', false]);
    const bin = Buffer.from([0xff, 0x00, 0xfe]);
    const png = apiGatewayEvent({ ...base, headers: { "content-type": "image/png" }, body: bin }, found);
    assert.deepEqual([png.body, png.isBase64Encoded], [bin.toString("base64"), true]);
  });
});

describe("httpAnswer", () => {
  const fixture = readFileSync(
    resolve(import.meta.dirname, "../../test/fixtures/events/apigw-integrated-response.json"),
  );
  it("an integrated response becomes the answer, repeated headers as arrays", () => {
    const a = httpAnswer(fixture, true);
    assert.equal(a.status, 200);
    assert.deepEqual(a.headers["Set-Cookie"], ["a=1", "b=2"]);
    assert.equal(a.body.toString(), '{"id":2,"title":"record info"}');
  });
  it("a base64 integrated body is decoded", () => {
    const a = httpAnswer(
      Buffer.from(
        JSON.stringify({
          statusCode: 201,
          body: Buffer.from("hi").toString("base64"),
          isBase64Encoded: true,
        }),
      ),
      true,
    );
    assert.deepEqual([a.status, a.body.toString()], [201, "hi"]);
  });
  const invalid: Array<[string, unknown]> = [
    ["a string where an object is due", "hello"],
    ["a status code out of range", { statusCode: 99 }],
    ["headers that are not an object", { statusCode: 200, headers: "x" }],
    ["a body that is not a string", { statusCode: 200, body: { a: 1 } }],
  ];
  for (const [why, value] of invalid) {
    it(`an integrated response with ${why} gets SCF's invalid-format answer`, () => {
      assert.deepEqual(httpAnswer(Buffer.from(JSON.stringify(value)), true), INVALID_RESPONSE);
    });
  }
  it("not integrated: a string is text, anything else JSON", () => {
    const s = httpAnswer(Buffer.from('"hello"'), false);
    assert.deepEqual(
      [s.status, s.headers["content-type"], s.body.toString()],
      [200, "text/plain; charset=utf-8", "hello"],
    );
    const o = httpAnswer(Buffer.from('{"a":1}'), false);
    assert.deepEqual([o.headers["content-type"], o.body.toString()], ["application/json", '{"a":1}']);
  });
});
