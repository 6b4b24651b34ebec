import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { PodLog } from "./pod-log.ts";

const turnEnd = () => new Promise<void>((resolve) => setImmediate(resolve));

describe("PodLog: the pod's log lines, one write per turn", () => {
  it("lines of one turn leave in one write, in order, each with its newline", async () => {
    const writes: string[] = [];
    const log = new PodLog((t) => writes.push(t));
    log.line("START RequestId:a");
    log.line("RequestId:a hello");
    log.line("END RequestId:a");
    assert.deepEqual(writes, [], "nothing written before the turn ends");
    await turnEnd();
    assert.deepEqual(writes, ["START RequestId:a\nRequestId:a hello\nEND RequestId:a\n"]);
  });

  it("the next turn's lines are a write of their own", async () => {
    const writes: string[] = [];
    const log = new PodLog((t) => writes.push(t));
    log.line("one");
    await turnEnd();
    log.line("two");
    await turnEnd();
    assert.deepEqual(writes, ["one\n", "two\n"]);
  });

  it("past the pending limit the lines are written at once, not held for the turn", () => {
    // A function printing megabytes in one turn must not grow the shim's memory unbounded.
    const writes: string[] = [];
    const log = new PodLog((t) => writes.push(t), 10);
    log.line("12345");
    assert.deepEqual(writes, []);
    log.line("67890");
    assert.deepEqual(writes, ["12345\n67890\n"]);
  });

  it("flush writes what is pending (before an exit), and nothing when there is none", async () => {
    const writes: string[] = [];
    const log = new PodLog((t) => writes.push(t));
    log.flush();
    assert.deepEqual(writes, []);
    log.line("last words");
    log.flush();
    assert.deepEqual(writes, ["last words\n"]);
    await turnEnd();
    assert.deepEqual(writes, ["last words\n"], "the scheduled flush finds nothing left");
  });
});
