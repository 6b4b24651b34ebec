import assert from "node:assert/strict";
import { describe, it } from "node:test";
import type { UpdraftTrigger } from "../api/v1alpha1.ts";
import { CronSchedule } from "./cron.ts";
import { classify } from "./invoker.ts";
import { ckafkaEvent, retryDelayMs } from "./kafka.ts";
import { cmqEvent, tagsMatch } from "./queue.ts";
import { applyPending } from "./status.ts";
import { timerEvent } from "./timer.ts";

const iso = (ms: number | undefined) => (ms === undefined ? undefined : new Date(ms).toISOString());
const at = (s: string) => Date.parse(s);

describe("CronSchedule: SCF's 5, 6 and 7 fields", () => {
  const cases: { why: string; expr: string; tz?: string; after: string; next: string | undefined }[] = [
    {
      why: "seven fields, every five minutes (SCF's own example)",
      expr: "0 */5 * * * * *",
      after: "2026-12-01T04:01:00Z",
      next: "2026-12-01T04:05:00.000Z",
    },
    {
      why: "six fields start at the second: every 2 s",
      expr: "*/2 * * * * *",
      after: "2026-12-01T04:00:01.500Z",
      next: "2026-12-01T04:00:02.000Z",
    },
    {
      why: "five fields start at the minute, second 0",
      expr: "30 4 * * *",
      after: "2026-12-01T00:00:00Z",
      next: "2026-12-01T04:30:00.000Z",
    },
    {
      why: "the year field restricts to a later year",
      expr: "0 0 0 1 1 * 2028",
      after: "2026-12-01T00:00:00Z",
      next: "2028-01-01T00:00:00.000Z",
    },
    {
      why: "a year in the past leaves no time at all",
      expr: "0 0 0 1 1 * 2020",
      after: "2026-12-01T00:00:00Z",
      next: undefined,
    },
    {
      why: "the time zone moves the hour: 10:00 in Shanghai is 02:00 UTC",
      expr: "0 0 10 * * * *",
      tz: "Asia/Shanghai",
      after: "2026-12-01T00:00:00Z",
      next: "2026-12-01T02:00:00.000Z",
    },
    {
      why: "names and ? as Quartz writes them: noon on Wednesdays",
      expr: "0 0 12 ? * WED *",
      after: "2026-12-01T00:00:00Z",
      next: "2026-12-02T12:00:00.000Z",
    },
  ];
  for (const c of cases)
    it(c.why, () => assert.equal(iso(new CronSchedule(c.expr, c.tz).next(at(c.after))), c.next));

  it("between() lists the missed times of a catch-up window, oldest first, after its start only", () => {
    const s = new CronSchedule("*/2 * * * * *");
    assert.deepEqual(s.between(at("2026-12-01T04:00:00.500Z"), at("2026-12-01T04:00:06Z"), 10).map(iso), [
      "2026-12-01T04:00:02.000Z",
      "2026-12-01T04:00:04.000Z",
      "2026-12-01T04:00:06.000Z",
    ]);
  });

  it("refuses 4 or 8 fields and an unknown time zone", () => {
    assert.throws(() => new CronSchedule("* * * *"), /4 fields/);
    assert.throws(() => new CronSchedule("0 0 0 * * * * *"), /8 fields/);
    assert.throws(() => new CronSchedule("0 * * * * *", "Mars/Olympus").next(Date.now()));
  });
});

describe("event shapes", () => {
  it("timer: SCF's fields, Time in UTC without milliseconds", () => {
    assert.deepEqual(timerEvent("every-minute", at("2026-11-29T04:30:00.000Z"), "tick"), {
      Type: "Timer",
      TriggerName: "every-minute",
      Time: "2026-11-29T04:30:00Z",
      Message: "tick",
    });
  });
  it("CKafka: one record per message, offset as a number, an absent key as empty", () => {
    assert.deepEqual(
      ckafkaEvent([{ topic: "orders", partition: 1, offset: 36n, key: undefined, value: "v" }]),
      {
        Records: [{ Ckafka: { topic: "orders", partition: 1, offset: 36, msgKey: "", msgBody: "v" } }],
      },
    );
  });
  it("CMQ: a NATS subject is a topic, an AMQP queue a queue", () => {
    const base = {
      owner: "ns",
      name: "orders",
      subscription: "t",
      msgId: "1",
      body: "b",
      tag: "x",
      publishTime: 0,
    };
    const topic = cmqEvent({ ...base, type: "topic" }).Records[0]!.CMQ;
    const queue = cmqEvent({ ...base, type: "queue" }).Records[0]!.CMQ;
    assert.equal(topic.type, "topic");
    assert.equal((topic as { topicName?: string }).topicName, "orders");
    assert.equal((queue as { queueName?: string }).queueName, "orders");
    assert.equal(topic.publishTime, "1970-01-01T00:00:00.000Z");
  });
});

describe("tagsMatch", () => {
  const cases = [
    { why: "no filter takes everything", filter: undefined, tag: "", want: true },
    { why: "one shared tag is enough", filter: ["paid"], tag: "paid,eu", want: true },
    { why: "no shared tag filters it out", filter: ["refund"], tag: "paid,eu", want: false },
    { why: "an untagged message fails a filter", filter: ["paid"], tag: "", want: false },
  ];
  for (const c of cases) it(c.why, () => assert.equal(tagsMatch(c.filter, c.tag), c.want));
});

describe("classify: the invoke API's answer as a delivery outcome", () => {
  const cases: { why: string; status: number; headers: Record<string, string>; kind: string }[] = [
    { why: "202: the async event is stored", status: 202, headers: {}, kind: "delivered" },
    {
      why: "200 without an error header: the function succeeded",
      status: 200,
      headers: {},
      kind: "delivered",
    },
    {
      why: "200 with X-Updraft-Function-Error: the function failed",
      status: 200,
      headers: { "x-updraft-function-error": "430" },
      kind: "functionError",
    },
    {
      why: "432 over concurrency.max: throttled, never a failed attempt",
      status: 432,
      headers: { "retry-after": "2" },
      kind: "throttled",
    },
    { why: "429 full queue: throttled", status: 429, headers: {}, kind: "throttled" },
    { why: "503 no instance: the platform, retried", status: 503, headers: {}, kind: "unavailable" },
    {
      why: "401/403: the adapter's own token or binding, the platform's to mend: retried, never skipped",
      status: 403,
      headers: {},
      kind: "unavailable",
    },
    {
      why: "401 an expired token: retried with the rotated one",
      status: 401,
      headers: {},
      kind: "unavailable",
    },
    { why: "435 unknown function: refused for good", status: 435, headers: {}, kind: "rejected" },
    { why: "400 bad event: refused for good", status: 400, headers: {}, kind: "rejected" },
  ];
  for (const c of cases) it(c.why, () => assert.equal(classify(c.status, c.headers, "").kind, c.kind));
  it("Retry-After is read in seconds", () => {
    const o = classify(432, { "retry-after": "2" }, "");
    assert.equal(o.kind === "throttled" && o.retryAfterMs, 2000);
  });
  it("a duplicate enqueue is delivered, marked duplicate", () => {
    const o = classify(202, { "x-updraft-duplicate": "true" }, "");
    assert.equal(o.kind === "delivered" && o.duplicate, true);
  });
});

describe("retryDelayMs: 1 s doubling to 30 s", () => {
  for (const [n, ms] of [
    [1, 1000],
    [2, 2000],
    [5, 16000],
    [6, 30000],
    [50, 30000],
  ] as const)
    it(`retry ${n} waits ${ms} ms`, () => assert.equal(retryDelayMs(n), ms));
});

describe("applyPending: batched status", () => {
  const trigger = (status: UpdraftTrigger["status"]): UpdraftTrigger => ({
    apiVersion: "updraft.dev/v1alpha1",
    kind: "Trigger",
    metadata: { name: "t", namespace: "n", generation: 3 },
    spec: { function: "f", type: "Timer", timer: { cronExpression: "* * * * *" } },
    ...(status ? { status } : {}),
  });
  const now = () => new Date("2026-12-01T04:00:00Z");
  it("adds counts to what the status holds (replicas add up)", () => {
    const t = applyPending(
      trigger({ firedCount: 10, failedCount: 1 }),
      { fired: 3, failed: 2, lastFire: undefined, source: undefined },
      now,
    );
    assert.equal(t.status?.firedCount, 13);
    assert.equal(t.status?.failedCount, 3);
  });
  it("never moves lastFireTime back", () => {
    const t = applyPending(
      trigger({ lastFireTime: "2026-12-01T04:00:10Z" }),
      { fired: 1, failed: 0, lastFire: at("2026-12-01T04:00:05Z"), source: undefined },
      now,
    );
    assert.equal(t.status?.lastFireTime, "2026-12-01T04:00:10Z");
  });
  it("a source going down turns Ready False at once, with its reason", () => {
    const ok = { type: "True", status: "True" as const };
    const t = applyPending(
      trigger({
        conditions: [
          { ...ok, type: "FunctionFound" },
          { ...ok, type: "AdapterReady" },
          { ...ok, type: "SourceReady" },
          { ...ok, type: "Ready" },
        ],
      }),
      {
        fired: 0,
        failed: 0,
        lastFire: undefined,
        source: { ready: false, reason: "BrokerUnreachable", message: "down" },
      },
      now,
    );
    const ready = t.status?.conditions?.find((c) => c.type === "Ready");
    assert.equal(ready?.status, "False");
    assert.equal(ready?.reason, "BrokerUnreachable");
  });
});
