import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { handOverRefusal, prestartSupported } from "./prestart.ts";

describe("prestartSupported", () => {
  const cases: Array<[string, boolean, string]> = [
    ["nodejs24", true, "the Node.js bootstrap waits for its environment"],
    ["nodejs22", true, "every Node.js version shares the bootstrap"],
    ["python3.11", true, "the Python bootstrap waits for its environment"],
    ["go1", false, "the Go bootstrap starts the user's binary, built for the function"],
    ["java17", false, "the JVM is not pre-started (yet)"],
    ["custom", false, "a custom bootstrap is the user's own program"],
  ];
  for (const [runtime, want, why] of cases)
    it(`${runtime}: ${why}`, () => assert.equal(prestartSupported(runtime), want));
});

describe("handOverRefusal", () => {
  const pool = { PATH: "/usr/bin", SCF_RUNTIME: "nodejs24", UPDRAFT_POOL: "nodejs24", LANG: "C.UTF-8" };
  const cases: Array<{
    why: string;
    runtime: string;
    fnEnv: Record<string, string>;
    want: string | undefined;
  }> = [
    {
      why: "the function's own variables are read by its code after the hand-over: fine",
      runtime: "nodejs24",
      fnEnv: { ...pool, GREETING: "hi", SCF_FUNCTIONNAME: "hello", _HANDLER: "index.main_handler" },
      want: undefined,
    },
    {
      why: "a pool-only variable the function lacks is removed by the hand-over: fine",
      runtime: "nodejs24",
      fnEnv: { PATH: "/usr/bin", SCF_RUNTIME: "nodejs24", LANG: "C.UTF-8" },
      want: undefined,
    },
    {
      why: "NODE_OPTIONS is taken by node at start: a running worker cannot apply it",
      runtime: "nodejs24",
      fnEnv: { ...pool, NODE_OPTIONS: "--enable-source-maps" },
      want: "NODE_OPTIONS is read at start",
    },
    {
      why: "PYTHONPATH builds sys.path at start",
      runtime: "python3.11",
      fnEnv: { ...pool, PYTHONPATH: "/var/user/lib" },
      want: "PYTHONPATH is read at start",
    },
    {
      why: "a Python function's NODE_ variable is just a variable to it",
      runtime: "python3.11",
      fnEnv: { ...pool, NODE_ENV: "production" },
      want: undefined,
    },
    {
      why: "a different locale was fixed at start (ICU, CPython's file encoding)",
      runtime: "python3.11",
      fnEnv: { ...pool, LANG: "zh_CN.UTF-8" },
      want: "LANG is read at start",
    },
    {
      why: "the loader's variables only act at exec",
      runtime: "nodejs24",
      fnEnv: { ...pool, LD_PRELOAD: "/opt/lib/libjemalloc.so" },
      want: "LD_PRELOAD is read at start",
    },
    {
      why: "a runtime without a waiting bootstrap is never handed over",
      runtime: "go1",
      fnEnv: pool,
      want: "go1 workers are not pre-started",
    },
  ];
  for (const c of cases) it(c.why, () => assert.equal(handOverRefusal(c.runtime, pool, c.fnEnv), c.want));
});
