/**
 * The CRDs on the real apiserver: every invalid manifest in test/invalid/ is refused with a
 * message naming the offending field, defaults are applied, and kubectl knows the types.
 */
import assert from "node:assert/strict";
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import {
  deleteNamespace,
  getFunction,
  installUpdraft,
  kubectl,
  kubectlOk,
  newNamespace,
  ROOT,
} from "./harness.ts";

let ns: string;
before(async () => {
  installUpdraft();
  ns = await newNamespace("crds");
});
after(async () => deleteNamespace(ns));

describe("invalid manifests are refused, naming the field", () => {
  const dir = join(ROOT, "test/invalid");
  const files = readdirSync(dir).filter((f) => f.endsWith(".yaml"));
  it("there are at least 25 of them", () => assert.ok(files.length >= 25, `${files.length}`));
  for (const file of files) {
    const text = readFileSync(join(dir, file), "utf8");
    const expect = /^# expect: (.+)$/m.exec(text)?.[1]?.trim();
    const why = /^# why: (.+)$/m.exec(text)?.[1]?.trim();
    it(`${file}: ${why}`, () => {
      assert.ok(expect, "the file says which field must be named");
      const r = kubectl(["create", "--dry-run=server", "-n", ns, "-f", "-"], text);
      assert.notEqual(r.code, 0, `accepted: ${r.stdout}`);
      assert.ok(r.stderr.includes(expect), `message does not name ${expect}: ${r.stderr}`);
      // Nothing was stored.
      assert.equal(kubectlOk(["get", "functions,triggers", "-n", ns, "-o", "name"]).trim(), "");
    });
  }
});

describe("valid manifests", () => {
  it("every example passes server-side validation", () => {
    for (const dir of ["examples", "examples/triggers"])
      for (const f of readdirSync(join(ROOT, dir)).filter((x) => x.endsWith(".yaml"))) {
        const r = kubectl(["apply", "--dry-run=server", "-n", ns, "-f", join(ROOT, dir, f)]);
        assert.equal(r.code, 0, `${dir}/${f}: ${r.stderr}`);
      }
  });

  it("the schema's defaults are applied", async () => {
    kubectlOk(
      ["apply", "-n", ns, "-f", "-"],
      `apiVersion: updraft.dev/v1alpha1
kind: Function
metadata: {name: defaults}
spec:
  runtime: nodejs24
  handler: index.main_handler
  code: {inline: {index.js: "exports.main_handler = async () => 1"}}
`,
    );
    const fn = await getFunction(ns, "defaults");
    assert.deepEqual(
      {
        type: fn.spec.type,
        memoryMB: fn.spec.memoryMB,
        timeoutSeconds: fn.spec.timeoutSeconds,
        initTimeoutSeconds: fn.spec.initTimeoutSeconds,
        concurrency: fn.spec.concurrency,
        scaling: fn.spec.scaling,
        async: fn.spec.async,
      },
      {
        type: "Event",
        memoryMB: 128,
        timeoutSeconds: 3,
        initTimeoutSeconds: 65,
        concurrency: { perInstance: 1, provisioned: 0 },
        scaling: { minInstances: 0, scaleToZeroAfterSeconds: 30, targetUtilization: 0.7 },
        async: { retryAttempts: 2, maxEventAgeSeconds: 21600 },
      },
    );
  });

  it("a Trigger's function cannot be changed to point elsewhere", () => {
    kubectlOk(
      ["apply", "-n", ns, "-f", "-"],
      `apiVersion: updraft.dev/v1alpha1
kind: Trigger
metadata: {name: imm}
spec: {function: a, type: Timer, timer: {cronExpression: "0 */1 * * * * *"}}
`,
    );
    const r = kubectl([
      "patch",
      "trigger",
      "imm",
      "-n",
      ns,
      "--type=merge",
      "-p",
      '{"spec":{"function":"b"}}',
    ]);
    assert.notEqual(r.code, 0);
    assert.match(r.stderr, /spec\.function/);
  });
});

describe("kubectl knows the types", () => {
  it("kubectl explain function.spec.concurrency describes the fields", () => {
    const out = kubectlOk(["explain", "function.spec.concurrency"]);
    for (const field of ["perInstance", "max", "provisioned"]) assert.match(out, new RegExp(field));
    assert.match(out, /reserved/);
  });
  it("short names and the updraft category work", () => {
    kubectlOk(["get", "fn", "-n", ns]);
    kubectlOk(["get", "trig", "-n", ns]);
    const out = kubectlOk(["get", "updraft", "-n", ns, "-o", "name"]);
    assert.match(out, /function.updraft.dev\/defaults/);
    assert.match(out, /trigger.updraft.dev\/imm/);
  });
  it("printer columns show Ready, Runtime, Replicas, URL", () => {
    const header = kubectlOk(["get", "fn", "-n", ns]).split("\n")[0] ?? "";
    for (const col of ["READY", "RUNTIME", "REPLICAS", "URL", "AGE"]) assert.match(header, new RegExp(col));
  });
});
