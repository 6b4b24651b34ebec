import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { announceEnv, INSTANCE_ANNOUNCE_PATH, parseAnnouncement } from "./announce.ts";
import { repeatedPathParameters, SERVER_IDLE_CONNECTION_MS, sendableResponseHeaders } from "./http.ts";
import { cosEventName, cosRecord, recordMatches, type S3Record } from "./storage-events.ts";
import { IDEMPOTENCY_KEY_PATTERN, requestIdForKey } from "./triggers.ts";

describe("requestIdForKey", () => {
  it("is stable: every replica and restart derives the same id for the same key", () =>
    assert.equal(
      requestIdForKey("demo", "hello", "timer/u/t"),
      requestIdForKey("demo", "hello", "timer/u/t"),
    ));
  it("differs per function, so two functions never share a record", () =>
    assert.notEqual(requestIdForKey("demo", "a", "k"), requestIdForKey("demo", "b", "k")));
  it("is shaped like a request id (the records route accepts it)", () =>
    assert.match(
      requestIdForKey("demo", "hello", "k"),
      /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/,
    ));
  it("keys are printable, no spaces, at most 256", () => {
    assert.ok(IDEMPOTENCY_KEY_PATTERN.test("timer/uid/2026-12-01T04:00:00.000Z"));
    assert.ok(!IDEMPOTENCY_KEY_PATTERN.test("has space"));
    assert.ok(!IDEMPOTENCY_KEY_PATTERN.test("x".repeat(257)));
  });
});

const record = (eventName: string, key: string, bucket = "uploads"): S3Record => ({
  eventName,
  eventTime: "2026-11-29T04:30:00.000Z",
  s3: { bucket: { name: bucket }, object: { key, size: 20480, eTag: '"abc"', sequencer: "1" } },
});

describe("cosEventName", () => {
  const cases = [
    ["s3:ObjectCreated:Put", "cos:ObjectCreated:Put", "versitygw's names carry s3:"],
    ["ObjectCreated:Copy", "cos:ObjectCreated:Copy", "AWS's names do not"],
    ["s3:ObjectRemoved:Delete", "cos:ObjectRemove:Delete", "COS says Remove where S3 says Removed"],
  ] as const;
  for (const [s3, cos, why] of cases) it(why, () => assert.equal(cosEventName(s3), cos));
});

describe("recordMatches: bucket, kinds, prefix, suffix", () => {
  const spec = { bucket: "uploads", events: ["cos:ObjectCreated:*"], prefix: "in/", suffix: ".txt" };
  const cases = [
    { why: "everything matches", r: record("s3:ObjectCreated:Put", "in/a.txt"), want: true },
    {
      why: "another bucket never matches (tenants share a store)",
      r: record("s3:ObjectCreated:Put", "in/a.txt", "other"),
      want: false,
    },
    {
      why: "a removal does not match created:*",
      r: record("s3:ObjectRemoved:Delete", "in/a.txt"),
      want: false,
    },
    { why: "outside the prefix", r: record("s3:ObjectCreated:Put", "out/a.txt"), want: false },
    { why: "another suffix", r: record("s3:ObjectCreated:Put", "in/a.png"), want: false },
    {
      why: "keys arrive URL-encoded: 'in/a+b.txt' is 'in/a b.txt'",
      r: record("s3:ObjectCreated:Put", "in/a+b.txt"),
      want: true,
    },
  ];
  for (const c of cases) it(c.why, () => assert.equal(recordMatches(spec, c.r), c.want));
  it("an exact kind matches only itself", () =>
    assert.equal(
      recordMatches(
        { bucket: "uploads", events: ["cos:ObjectCreated:Copy"] },
        record("s3:ObjectCreated:Put", "k"),
      ),
      false,
    ));
});

describe("cosRecord", () => {
  it("has SCF's COS shape: /appid/bucket/key, size, etag, epoch seconds", () => {
    const r = cosRecord(
      record("s3:ObjectCreated:Put", "photos/cat.png"),
      "local",
      "local",
      "http://s3:7070/",
    );
    assert.equal(r.cos.cosObject.key, "/local/uploads/photos/cat.png");
    assert.equal(r.cos.cosObject.size, 20480);
    assert.equal(r.cos.cosObject.meta.ETag, "abc");
    assert.equal(r.cos.cosObject.url, "http://s3:7070/uploads/photos/cat.png");
    assert.equal(r.cos.cosBucket.name, "uploads");
    assert.equal(r.event.eventName, "cos:ObjectCreated:Put");
    assert.equal(r.event.eventTime, Date.parse("2026-11-29T04:30:00Z") / 1000);
    assert.equal(r.event.eventSource, "qcs::cos");
  });
});

describe("instance announcements", () => {
  const ok = {
    namespace: "team-a",
    pod: "fn-hello-7d9f-abcde",
    uid: "0f8fad5b-d9cb-469f-a165-70867728950e",
    ip: "10.88.0.7",
  };
  const cases: Array<{ why: string; body: unknown; valid: boolean }> = [
    { why: "what a pod's shim sends", body: ok, valid: true },
    { why: "an IPv6 pod address", body: { ...ok, ip: "fd00::7" }, valid: true },
    { why: "not an object", body: "hello", valid: false },
    { why: "no UID: nothing proves which pod it is", body: { ...ok, uid: undefined }, valid: false },
    { why: "a UID that is not a UUID", body: { ...ok, uid: "x" }, valid: false },
    { why: "an address that is not one", body: { ...ok, ip: "10.88.0.300" }, valid: false },
    { why: "a host name instead of an address", body: { ...ok, ip: "evil.example.com" }, valid: false },
    { why: "a namespace that is no DNS label", body: { ...ok, namespace: "Team_A" }, valid: false },
  ];
  for (const c of cases) it(c.why, () => assert.equal(parseAnnouncement(c.body) !== undefined, c.valid));
  it("the pod template's part: the activator's announce URL, and the pod from the downward API", () => {
    const env = new Map(
      announceEnv("http://updraft-activator.updraft-system.svc:8080/").map((e) => [e.name, e]),
    );
    assert.equal(
      env.get("UPDRAFT_ANNOUNCE_URL")?.value,
      `http://updraft-activator.updraft-system.svc:8080${INSTANCE_ANNOUNCE_PATH}`,
    );
    assert.equal(env.get("UPDRAFT_POD_IP")?.valueFrom?.fieldRef?.fieldPath, "status.podIP");
  });
});

describe("sendableResponseHeaders: what of a function's answer may reach an HTTP caller", () => {
  const cases: Array<{
    why: string;
    in: Record<string, string | string[]>;
    want: Record<string, string | string[]>;
    dropped: number;
  }> = [
    {
      why: "ordinary headers, repeated ones too, pass as they are",
      in: { "content-type": "text/html", "Set-Cookie": ["a=1", "b=2"] },
      want: { "content-type": "text/html", "Set-Cookie": ["a=1", "b=2"] },
      dropped: 0,
    },
    {
      why: "a value with CR/LF would split the response (or make Node.js throw and fail the answer)",
      in: { "x-a": "1\r\nx-injected: yes", "x-b": "ok" },
      want: { "x-b": "ok" },
      dropped: 1,
    },
    {
      why: "a bare LF or NUL is as bad as CR/LF",
      in: { "x-a": "1\nx: y", "x-c": "a\u0000b" },
      want: {},
      dropped: 2,
    },
    {
      why: "one bad value of a repeated header goes, the others stay",
      in: { "set-cookie": ["a=1", "b=2\r\nx: y"] },
      want: { "set-cookie": ["a=1"] },
      dropped: 1,
    },
    {
      why: "hop-by-hop headers are the activator's to set, in any case",
      in: { Connection: "close", "transfer-encoding": "chunked", "Content-Length": "99", "x-ok": "1" },
      want: { "x-ok": "1" },
      dropped: 3,
    },
    {
      why: "a name that is not a token (space, colon, CR) is no header",
      in: { "bad name": "1", "x:y": "2", "x\r\nz": "3" },
      want: {},
      dropped: 3,
    },
    {
      why: "UTF-8 bytes above 0x7f and tabs are legal in a value (obs-text), as Node.js sends them",
      in: { "x-name": "caf\u00e9\tbar" },
      want: { "x-name": "caf\u00e9\tbar" },
      dropped: 0,
    },
    {
      why: "text beyond latin1 (a Chinese file name) goes as its UTF-8 bytes, not refused by Node.js",
      in: { "content-disposition": "attachment; filename=\u6587.txt" },
      want: { "content-disposition": "attachment; filename=\u00e6\u0096\u0087.txt" },
      dropped: 0,
    },
  ];
  for (const c of cases)
    it(c.why, () => {
      assert.deepEqual(sendableResponseHeaders(c.in), { headers: c.want, dropped: c.dropped });
    });
});

describe("repeatedPathParameters", () => {
  const cases: Array<{ why: string; path: string; want: string[] }> = [
    { why: "a plain path names none", path: "/hello/world", want: [] },
    { why: "distinct parameters are fine", path: "/article/{articleId}/comments/{commentId}", want: [] },
    {
      why: "one name twice: pathParameters would keep one value",
      path: "/user/{id}/friend/{id}",
      want: ["id"],
    },
    {
      why: "each repeated name once, however often it repeats",
      path: "/{a}/{a}/{b}/{a}/{b}",
      want: ["a", "b"],
    },
    { why: "a literal segment that looks like a name is not a parameter", path: "/id/{id}", want: [] },
  ];
  for (const c of cases) it(c.why, () => assert.deepEqual(repeatedPathParameters(c.path), c.want));
});

describe("SERVER_IDLE_CONNECTION_MS: a server keeps idle connections longer than the clients in front of it", () => {
  // A client that reuses an idle connection as the server closes it gets EOF for a request
  // the server never read; so the client must always be the one that drops it first.
  const clients: Array<{ why: string; clientIdleMs: number }> = [
    {
      why: "the kube-apiserver's proxy to services and aggregated APIs (Go http.Transport's default) ignores the Keep-Alive hint",
      clientIdleMs: 90_000,
    },
    {
      why: "nginx's upstream keepalive_timeout (an ingress in front of the activator)",
      clientIdleMs: 60_000,
    },
    {
      why: "undici's default when the server gives no hint (the activator's own forwarder)",
      clientIdleMs: 4_000,
    },
  ];
  for (const c of clients)
    it(c.why, () => {
      assert.ok(
        SERVER_IDLE_CONNECTION_MS > c.clientIdleMs,
        `${SERVER_IDLE_CONNECTION_MS} ≤ ${c.clientIdleMs}`,
      );
    });
});
