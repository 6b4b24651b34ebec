import assert from "node:assert/strict";
import { describe, it } from "node:test";
import type { V1Pod } from "@kubernetes/client-node";
import { UpdraftError } from "../lib/errors.ts";
import type { InstanceAnnouncement } from "../protocol/announce.ts";
import { announcedFunction, InstanceAnnouncements } from "./announce.ts";

const UID = "0f8fad5b-d9cb-469f-a165-70867728950e";
const said: InstanceAnnouncement = {
  namespace: "team-a",
  pod: "fn-hello-7d9f-abcde",
  uid: UID,
  ip: "10.88.0.7",
};

function pod(change: (p: V1Pod) => void = () => undefined): V1Pod {
  const p: V1Pod = {
    metadata: {
      name: said.pod,
      namespace: said.namespace,
      uid: UID,
      labels: { "updraft.dev/function": "hello", "app.kubernetes.io/component": "function" },
    },
    status: { phase: "Pending" },
  };
  change(p);
  return p;
}

describe("announcedFunction: is the announced pod a starting instance, as said?", () => {
  const cases: Array<{ why: string; pod: V1Pod | undefined; want: string }> = [
    {
      why: "a pending function pod with no address reported yet: the case announcing is for",
      pod: pod(),
      want: "team-a/hello",
    },
    {
      why: "the kubelet's report came first and agrees",
      pod: pod((p) => {
        p.status = { phase: "Running", podIP: "10.88.0.7" };
      }),
      want: "team-a/hello",
    },
    { why: "no such pod (a guess, or deleted since)", pod: undefined, want: "does not exist" },
    {
      why: "the name is right but the UID is not: someone who cannot read the pod guessed its name",
      pod: pod((p) => {
        p.metadata!.uid = "11111111-2222-4333-8444-555555555555";
      }),
      want: "another UID",
    },
    {
      why: "a pod that is no function's instance (a warm-pool pod, or any other)",
      pod: pod((p) => {
        p.metadata!.labels = { "updraft.dev/pool": "nodejs24" };
      }),
      want: "not a function's instance",
    },
    {
      why: "a pod on its way out takes no new requests",
      pod: pod((p) => {
        p.metadata!.deletionTimestamp = new Date();
      }),
      want: "being deleted",
    },
    {
      why: "a pod that ended",
      pod: pod((p) => {
        p.status = { phase: "Failed" };
      }),
      want: "has ended",
    },
    {
      why: "the pod is reported at another address: the announcement points elsewhere",
      pod: pod((p) => {
        p.status = { phase: "Running", podIP: "10.88.0.99" };
      }),
      want: "is at 10.88.0.99",
    },
  ];
  for (const c of cases) {
    it(c.why, () => {
      const v = announcedFunction(said, c.pod);
      if ("key" in v) assert.equal(v.key, c.want);
      else assert.match(v.refusal, new RegExp(c.want));
    });
  }
});

describe("InstanceAnnouncements.accept", () => {
  function setup(p: V1Pod | undefined, known = true) {
    const taken: Array<[string, string, string]> = [];
    const relayed: Buffer[] = [];
    const counts: string[] = [];
    const a = new InstanceAnnouncements({
      readPod: async (ns, name) => (ns === said.namespace && name === said.pod ? p : undefined),
      announce: (key, ip, uid) => {
        if (!known) return false;
        taken.push([key, ip, uid]);
        return true;
      },
      relay: (b) => relayed.push(b),
      count: (o) => counts.push(o),
    });
    return { a, taken, relayed, counts };
  }
  const body = (v: unknown) => Buffer.from(JSON.stringify(v));
  const code = (want: string) => (err: unknown) => err instanceof UpdraftError && err.code === want;

  it("a verified announcement goes to the table and on to the other activators", async () => {
    const { a, taken, relayed, counts } = setup(pod());
    await a.accept(body(said), false);
    assert.deepEqual(taken, [["team-a/hello", "10.88.0.7", UID]]);
    assert.equal(relayed.length, 1);
    assert.deepEqual(counts, ["accepted"]);
  });
  it("one passed on by another activator is taken but goes no further", async () => {
    const { a, taken, relayed } = setup(pod());
    await a.accept(body(said), true);
    assert.equal(taken.length, 1);
    assert.equal(relayed.length, 0);
  });
  it("malformed: not JSON, a missing UID, an address that is not one — 400, nothing taken", async () => {
    const { a, taken, counts } = setup(pod());
    for (const b of [
      Buffer.from("{"),
      body({ ...said, uid: undefined }),
      body({ ...said, ip: "10.88.0.300" }),
    ])
      await assert.rejects(a.accept(b, false), code("InvalidParameter"));
    assert.equal(taken.length, 0);
    assert.deepEqual(counts, ["invalid", "invalid", "invalid"]);
  });
  it("a pod the API server does not agree on — 403, nothing taken, nothing passed on", async () => {
    const { a, taken, relayed } = setup(
      pod((p) => (p.metadata!.uid = "11111111-2222-4333-8444-555555555555")),
    );
    await assert.rejects(a.accept(body(said), false), code("InstanceNotVerified"));
    assert.equal(taken.length, 0);
    assert.equal(relayed.length, 0);
  });
  it("a function this activator does not know (yet) — FunctionNotFound, not passed on", async () => {
    const { a, relayed } = setup(pod(), false);
    await assert.rejects(a.accept(body(said), false), code("FunctionNotFound"));
    assert.equal(relayed.length, 0);
  });
});
