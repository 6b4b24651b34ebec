import assert from "node:assert/strict";
import { describe, it } from "node:test";
import type { UpdraftFunction, UpdraftTrigger } from "../api/v1alpha1.ts";
import { age, describeFunction, functionTable, table } from "./format.ts";

const now = new Date("2026-12-06T12:00:00Z");

function fn(
  name: string,
  ns: string,
  ready: string,
  replicas: [number, number],
  createdMinutesAgo: number,
): UpdraftFunction {
  return {
    apiVersion: "updraft.dev/v1alpha1",
    kind: "Function",
    metadata: {
      name,
      namespace: ns,
      creationTimestamp: new Date(now.getTime() - createdMinutesAgo * 60_000) as unknown as Date,
    },
    spec: {
      runtime: "nodejs24",
      handler: "index.main_handler",
      code: { inline: {} },
      memoryMB: 128,
      timeoutSeconds: 3,
    },
    status: {
      readyReplicas: replicas[0],
      replicas: replicas[1],
      url: `http://a/v1/namespaces/${ns}/functions/${name}/invocations`,
      conditions: [
        { type: "Ready", status: ready as "True", reason: "Ready", message: "", lastTransitionTime: "" },
      ],
    },
  } as UpdraftFunction;
}

describe("table", () => {
  it("pads every column but the last to its widest cell, two spaces apart", () =>
    assert.equal(
      table([
        ["NAME", "READY"],
        ["hello-world", "True"],
      ]),
      "NAME         READY\nhello-world  True",
    ));
});

describe("age", () => {
  const cases: Array<[string, number, string]> = [
    ["seconds up to two minutes", 90, "90s"],
    ["minutes up to two hours", 3700, "61m"],
    ["hours up to two days", 90_000, "25h"],
    ["days beyond", 4 * 86_400, "4d"],
    ["a clock behind the API server's is no negative age", -5, "0s"],
  ];
  for (const [why, s, want] of cases)
    it(why, () => assert.equal(age(new Date(now.getTime() - s * 1000), now), want));
  it("no timestamp is <unknown>", () => assert.equal(age(undefined, now), "<unknown>"));
});

describe("functionTable", () => {
  const fns = [fn("zeta", "b", "False", [0, 0], 3), fn("alpha", "a", "True", [1, 2], 150)];
  it("sorts by namespace and name, and shows ready/all instances and age", () =>
    assert.equal(
      functionTable(fns, now, false),
      [
        "NAME   RUNTIME   READY  INSTANCES  AGE",
        "alpha  nodejs24  True   1/2        2h",
        "zeta   nodejs24  False  0/0        3m",
      ].join("\n"),
    ));
  it("with every namespace, a NAMESPACE column first", () =>
    assert.match(functionTable(fns, now, true), /^NAMESPACE {2}NAME/));
});

describe("describeFunction", () => {
  const trigger = (name: string, fnName: string): UpdraftTrigger =>
    ({
      apiVersion: "updraft.dev/v1alpha1",
      kind: "Trigger",
      metadata: { name, namespace: "a" },
      spec: { function: fnName, type: "Timer", timer: { cronExpression: "0 * * * * * *" } },
      status: {
        firedCount: 7,
        conditions: [{ type: "Ready", status: "True", reason: "", message: "", lastTransitionTime: "" }],
      },
    }) as UpdraftTrigger;
  it("lists the Function's conditions and only its own Triggers", () => {
    const out = describeFunction(
      fn("alpha", "a", "True", [1, 1], 5),
      [trigger("tick", "alpha"), trigger("other", "beta")],
      now,
    );
    assert.match(out, /^Name: {9}alpha$/m);
    assert.match(out, /^ {2}Ready +True +Ready$/m);
    assert.match(out, /^ {2}tick +Timer +True +7$/m);
    assert.doesNotMatch(out, /other/);
  });
  it("says when no Trigger calls it", () =>
    assert.match(describeFunction(fn("alpha", "a", "True", [1, 1], 5), [], now), /^Triggers:\n {2}<none>$/m));
  it("shows the recent invocations newest first, with the error code of those that failed", () => {
    const kept = (requestId: string, secondsAgo: number, extra: object) => ({
      requestId,
      namespace: "a",
      function: "alpha",
      time: new Date(now.getTime() - secondsAgo * 1000).toISOString(),
      coldStart: false,
      async: false,
      log: "",
      outcome: "Succeeded" as const,
      ...extra,
    });
    const out = describeFunction(fn("alpha", "a", "True", [1, 1], 5), [], now, [
      kept("old-one", 120, { durationMs: 12.34, coldStart: true }),
      kept("new-one", 5, { outcome: "FunctionError", errorCode: 433, durationMs: 3000, async: true }),
    ]);
    const table = out.slice(out.indexOf("Recent invocations:"));
    assert.match(table, /^ {2}AGE +REQUEST ID +OUTCOME +DURATION +COLD +ASYNC$/m);
    assert.ok(table.indexOf("new-one") < table.indexOf("old-one"), table);
    assert.match(table, /new-one +FunctionError \(433\) +3000\.0 ms +yes$/m);
    assert.match(table, /old-one +Succeeded +12\.3 ms +yes$/m);
  });
  it("says why recent invocations could not be read", () =>
    assert.match(
      describeFunction(fn("alpha", "a", "True", [1, 1], 5), [], now, { error: "403: no" }),
      /^Recent invocations:\n {2}<not available: 403: no>$/m,
    ));
});
