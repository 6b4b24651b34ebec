import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { UpdraftHeaders } from "./headers.ts";
import openapi from "./openapi.json" with { type: "json" };

type Json = null | boolean | number | string | Json[] | { [k: string]: Json };
const doc = openapi as unknown as {
  openapi: string;
  info: { title: string };
  paths: Record<
    string,
    Record<string, { responses?: Record<string, unknown>; parameters?: Array<{ name: string; in: string }> }>
  >;
};

describe("the invoke API's OpenAPI document", () => {
  it("is OpenAPI 3.1 and every operation says what it answers", () => {
    assert.equal(doc.openapi, "3.1.0");
    for (const [path, item] of Object.entries(doc.paths))
      for (const [method, op] of Object.entries(item)) {
        if (method === "parameters") continue;
        assert.ok(op.responses && Object.keys(op.responses).length > 0, `${method} ${path}`);
      }
  });
  it("every $ref points at something in it", () => {
    const refs: string[] = [];
    const walk = (x: Json) => {
      if (Array.isArray(x)) x.forEach(walk);
      else if (x && typeof x === "object")
        for (const [k, v] of Object.entries(x))
          k === "$ref" && typeof v === "string" ? refs.push(v) : walk(v);
    };
    walk(openapi as unknown as Json);
    assert.ok(refs.length > 5);
    for (const ref of refs) {
      let at: unknown = openapi;
      for (const part of ref.replace(/^#\//, "").split("/")) at = (at as Record<string, unknown>)[part];
      assert.ok(at, `${ref} resolves`);
    }
  });
  it("documents the public routes the activator serves (announcements, dead letters and package fetches are the components' own)", () => {
    assert.deepEqual(Object.keys(doc.paths).sort(), [
      "/http/{namespace}/{path}",
      "/openapi.json",
      "/v1/namespaces/{namespace}/functions/{function}/invocations",
      "/v1/namespaces/{namespace}/invocations",
      "/v1/namespaces/{namespace}/invocations/{requestId}",
      "/v1/namespaces/{namespace}/packages",
    ]);
  });
  it("names the headers as the protocol module does", () => {
    const known = new Set(Object.values(UpdraftHeaders).map((h) => h.toLowerCase()));
    const text = JSON.stringify(openapi);
    for (const m of text.matchAll(/"(X-Updraft-[A-Za-z-]+)"/g))
      assert.ok(known.has((m[1] as string).toLowerCase()), `${m[1]} is a header of protocol/headers.ts`);
  });
});
