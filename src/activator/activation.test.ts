import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { ActivationNotifier } from "./activation.ts";

/** A notifier on a clock and a retry scheduler the test drives, with scripted answers. */
function setup(answers: Array<boolean | Error>) {
  const clock = { t: 0 };
  const sent: string[] = [];
  const scheduled: Array<() => void> = [];
  const errors: string[] = [];
  const n = new ActivationNotifier({
    send: async (ns, name) => {
      sent.push(`${ns}/${name}`);
      const a = answers.shift() ?? true;
      if (a instanceof Error) throw a;
      return a;
    },
    onError: (key) => errors.push(key),
    now: () => clock.t,
    later: (fn) => scheduled.push(fn),
  });
  const settle = () => new Promise((r) => setImmediate(r));
  return { n, clock, sent, scheduled, errors, settle };
}

describe("ActivationNotifier", () => {
  it("a burst at zero is one call per function per 500 ms", async () => {
    const { n, clock, sent, settle } = setup([]);
    for (let i = 0; i < 1000; i++) n.coldRequest("ns", "f");
    n.coldRequest("ns", "g");
    clock.t = 499;
    n.coldRequest("ns", "f");
    await settle();
    assert.deepEqual(sent, ["ns/f", "ns/g"]);
    clock.t = 500;
    n.coldRequest("ns", "f");
    await settle();
    assert.deepEqual(sent, ["ns/f", "ns/g", "ns/f"]);
  });

  it("a refused or failed call is tried again, up to 5 tries in all", async () => {
    const { n, sent, scheduled, errors, settle } = setup([
      false,
      new Error("down"),
      false,
      false,
      false,
      true,
    ]);
    n.coldRequest("ns", "f");
    for (let i = 0; i < 10; i++) {
      await settle();
      scheduled.shift()?.();
    }
    await settle();
    assert.equal(sent.length, 5, "5 tries, then the activity reports take over");
    assert.deepEqual(errors, ["ns/f"]);
  });

  it("a call the autoscaler took is not repeated", async () => {
    const { n, sent, scheduled, settle } = setup([true]);
    n.coldRequest("ns", "f");
    await settle();
    assert.equal(scheduled.length, 0);
    assert.equal(sent.length, 1);
  });
});
