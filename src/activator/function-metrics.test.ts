import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { Registry } from "prom-client";
import { coldStartPhases, FunctionMetrics } from "./function-metrics.ts";

const gauges = (fns: Array<{ namespace: string; function: string }>) => ({
  *functions() {
    for (const f of fns) yield { ...f, readyInstances: 2, startingInstances: 1, running: 3, waiting: 4 };
  },
});

describe("FunctionMetrics", () => {
  it("billed GB-s: billed whole milliseconds × memory (SCF's unit)", async () => {
    // 1,000 ms at 512 MB = 0.5 GB-s; twice → 1.
    const registry = new Registry();
    const m = new FunctionMetrics(registry, gauges([]));
    for (let i = 0; i < 2; i++)
      m.observe({
        namespace: "a",
        function: "f",
        outcome: "success",
        code: 200,
        async: false,
        billedMs: 1000,
        memoryMB: 512,
      });
    const billed = await registry.getSingleMetricAsString("updraft_function_billed_gb_seconds_total");
    assert.match(billed, /updraft_function_billed_gb_seconds_total\{namespace="a",function="f"\} 1$/m);
  });
  it("a cold start counts once and records each phase", async () => {
    const registry = new Registry();
    const m = new FunctionMetrics(registry, gauges([]));
    m.observe({
      namespace: "a",
      function: "f",
      outcome: "success",
      code: 200,
      async: false,
      coldStart: { totalSeconds: 0.236, pullCode: 0.07, initRuntime: 0.008, initFunction: 0.158 },
    });
    const text = await registry.metrics();
    assert.match(text, /updraft_function_cold_starts_total\{namespace="a",function="f"\} 1$/m);
    for (const phase of ["Total", "PullCode", "InitRuntime", "InitFunction"])
      assert.match(
        text,
        new RegExp(
          `updraft_function_cold_start_seconds_count\\{namespace="a",function="f",phase="${phase}"\\} 1$`,
          "m",
        ),
      );
  });
  it("a function that is gone leaves no series; another's stay", async () => {
    const registry = new Registry();
    const m = new FunctionMetrics(registry, gauges([]));
    for (const fn of ["gone", "kept"])
      m.observe({
        namespace: "a",
        function: fn,
        outcome: "function_error",
        code: 430,
        async: true,
        executionSeconds: 0.5,
      });
    m.forget("a", "gone");
    const text = await registry.metrics();
    assert.doesNotMatch(text, /function="gone"/);
    assert.match(
      text,
      /updraft_function_invocations_total\{namespace="a",function="kept",outcome="function_error",code="430",async="true"\} 1/,
    );
    // A Function made again under the same name starts from nothing, and is removed again.
    m.observe({ namespace: "a", function: "gone", outcome: "success", code: 200, async: false });
    assert.match(
      await registry.metrics(),
      /updraft_function_invocations_total\{namespace="a",function="gone",outcome="success",code="200",async="false"\} 1/,
    );
    m.forget("a", "gone");
    assert.doesNotMatch(await registry.metrics(), /function="gone"/);
  });
  it("instances and concurrency are read from the table when scraped", async () => {
    const registry = new Registry();
    new FunctionMetrics(registry, gauges([{ namespace: "a", function: "f" }]));
    const text = await registry.metrics();
    assert.match(text, /updraft_function_instances\{namespace="a",function="f",state="ready"\} 2/);
    assert.match(text, /updraft_function_instances\{namespace="a",function="f",state="starting"\} 1/);
    assert.match(text, /updraft_function_concurrency\{namespace="a",function="f",state="waiting"\} 4/);
  });
  it("coldStartPhases reads SCF's Init Report line", () => {
    assert.deepEqual(
      coldStartPhases(
        "Init Report RequestId: x Coldstart: 236ms (PullCode: 70ms InitRuntime: 8ms InitFunction: 158ms) Memory: 128MB",
      ),
      {
        pullCode: 0.07,
        initRuntime: 0.008,
        initFunction: 0.158,
      },
    );
    assert.equal(coldStartPhases("START RequestId:x"), undefined);
  });
});
