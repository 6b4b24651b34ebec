import assert from "node:assert/strict";
import { describe, it } from "node:test";
import type { V1Pod } from "@kubernetes/client-node";
import { resolveFunctionSpec, type UpdraftFunction } from "../api/v1alpha1.ts";
import type { SpecialiseRequest } from "../protocol/pool.ts";
import { claimable, type SpecialiseOutcome, specialiseRequest, WarmPool } from "./pool.ts";
import { FunctionTable } from "./table.ts";

const fn: UpdraftFunction = {
  apiVersion: "updraft.dev/v1alpha1",
  kind: "Function",
  metadata: { name: "hello", namespace: "team-a" },
  spec: {
    runtime: "nodejs24",
    handler: "index.main_handler",
    env: [{ name: "GREETING", value: "hi" }],
    code: { inline: { "index.js": "exports.main_handler = async () => 1" } },
  },
};
const spec = resolveFunctionSpec(fn.spec);

const pod = (
  name: string,
  ip: string,
  over: Partial<{ ready: boolean; runtime: string; memory: string }> = {},
): V1Pod => ({
  metadata: {
    name,
    namespace: "team-a",
    labels: {
      "updraft.dev/pool": over.runtime ?? "nodejs24",
      "updraft.dev/pool-memory": over.memory ?? "128",
    },
  },
  status: {
    phase: "Running",
    podIP: ip,
    conditions: [{ type: "Ready", status: over.ready === false ? "False" : "True" }],
  },
});

/** A pool whose instances answer as the map says; records specialise and adopt calls. */
function setup(answers: Record<string, SpecialiseOutcome>) {
  const calls: string[] = [];
  const bodies: SpecialiseRequest[] = [];
  const pool = new WarmPool({
    specialise: async (ip, body) => {
      calls.push(`specialise ${ip}`);
      bodies.push(body);
      return answers[ip] ?? "unreachable";
    },
    adopt: async (ns, name, f) => {
      calls.push(`adopt ${ns}/${name} into ${f.metadata.name}`);
    },
    onError: () => undefined,
  });
  return { pool, calls, bodies };
}

describe("WarmPool", () => {
  it("claimable: only running, ready pods with an address and the pool's labels", () => {
    assert.ok(claimable(pod("a", "10.0.0.1")));
    assert.equal(
      claimable(pod("b", "10.0.0.2", { ready: false })),
      undefined,
      "a starting pod cannot take a call",
    );
    const noIp = pod("c", "");
    assert.equal(claimable(noIp), undefined);
  });

  it("specialises the first fitting instance and adopts it into the function", async () => {
    const { pool, calls, bodies } = setup({ "10.0.0.2": "specialised" });
    pool.setPods("team-a", [pod("py", "10.0.0.1", { runtime: "python3.11" }), pod("n1", "10.0.0.2")]);
    assert.equal(await pool.claim(fn, spec), "10.0.0.2");
    await new Promise((r) => setImmediate(r));
    assert.deepEqual(calls, ["specialise 10.0.0.2", "adopt team-a/n1 into hello"]);
    assert.equal(bodies[0]!.env.SCF_FUNCTIONNAME, "hello");
    assert.equal(bodies[0]!.env.GREETING, "hi", "the user's env travels");
    assert.equal(bodies[0]!.env._HANDLER, "index.main_handler");
    assert.deepEqual(bodies[0]!.files, fn.spec.code.inline);
  });

  it("a refused instance (another activator took it) is skipped for the next one", async () => {
    const { pool, calls } = setup({ "10.0.0.1": "refused", "10.0.0.2": "specialised" });
    pool.setPods("team-a", [pod("n1", "10.0.0.1"), pod("n2", "10.0.0.2")]);
    assert.equal(await pool.claim(fn, spec), "10.0.0.2");
    assert.deepEqual(calls.slice(0, 2), ["specialise 10.0.0.1", "specialise 10.0.0.2"]);
  });

  it("a claimed instance is never offered again, even while the informer still lists it", async () => {
    const { pool } = setup({ "10.0.0.1": "specialised" });
    pool.setPods("team-a", [pod("n1", "10.0.0.1")]);
    assert.equal(await pool.claim(fn, spec), "10.0.0.1");
    assert.equal(await pool.claim(fn, spec), undefined);
  });

  it("no pool in the namespace, or an ineligible function: undefined, nothing called", async () => {
    const { pool, calls } = setup({});
    assert.equal(await pool.claim(fn, spec), undefined);
    pool.setPods("team-a", [pod("n1", "10.0.0.1")]);
    assert.equal(await pool.claim(fn, resolveFunctionSpec({ ...fn.spec, memoryMB: 512 })), undefined);
    assert.deepEqual(calls, []);
  });

  it("specialiseRequest carries the code hash the controller writes for inline code", () => {
    const body = specialiseRequest(fn, spec);
    assert.match(body.env.UPDRAFT_CODE_SHA256 ?? "", /^[0-9a-f]{64}$/);
  });
});

describe("FunctionTable with a warm pool", () => {
  it("a cold request waits for the specialised instance, then the slices take it over", async () => {
    let claims = 0;
    const table = new FunctionTable({
      maxWaiting: 10,
      maxShare: () => undefined,
      onColdRequest: () => undefined,
      claimPoolInstance: async () => {
        claims++;
        return "10.0.0.9";
      },
    });
    table.setFunctions([{ ...fn, spec: { ...fn.spec, concurrency: { perInstance: 2 } } }]);
    const st = table.get("team-a", "hello")!;
    const [a, b] = await Promise.all([table.acquire(st, 1000), table.acquire(st, 1000)]);
    assert.equal(a.inst.ip, "10.0.0.9");
    assert.equal(b.inst.ip, "10.0.0.9", "both waiting requests go to the specialised instance");
    assert.equal(claims, 1, "one claim at a time for a function");
    table.release(st, a);
    table.release(st, b);
    // Adopted: the function's slice lists the pod; the pin is gone and the slice rules.
    table.applyEndpointSlice(
      {
        addressType: "IPv4",
        metadata: { name: "fn-hello-x", namespace: "team-a", labels: { "updraft.dev/function": "hello" } },
        endpoints: [{ addresses: ["10.0.0.9"], conditions: { ready: true } }],
      },
      false,
    );
    assert.deepEqual(
      st.instances.map((i) => i.ip),
      ["10.0.0.9"],
    );
    table.applyEndpointSlice(
      {
        addressType: "IPv4",
        metadata: { name: "fn-hello-x", namespace: "team-a", labels: { "updraft.dev/function": "hello" } },
        endpoints: [],
      },
      false,
    );
    assert.deepEqual(st.instances, [], "once the slices had it, a slice without it removes it");
  });
});
