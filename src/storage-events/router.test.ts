import assert from "node:assert/strict";
import { describe, it } from "node:test";
import type { UpdraftTrigger } from "../api/v1alpha1.ts";
import type { S3Record } from "../protocol/storage-events.ts";
import { adapterEventsUrl, route } from "./router.ts";

const trigger = (
  ns: string,
  name: string,
  bucket: string,
  extra: Partial<UpdraftTrigger["spec"]> = {},
): UpdraftTrigger => ({
  apiVersion: "updraft.dev/v1alpha1",
  kind: "Trigger",
  metadata: { namespace: ns, name, uid: `${ns}-${name}` },
  spec: {
    function: "f",
    type: "ObjectStorage",
    objectStorage: { bucket, events: ["cos:ObjectCreated:*"] },
    ...extra,
  },
});
const rec = (bucket: string, key: string): S3Record => ({
  eventName: "s3:ObjectCreated:Put",
  s3: { bucket: { name: bucket }, object: { key, size: 1 } },
});

describe("route: each record only to the Triggers it matches", () => {
  const a = trigger("team-a", "photos", "a-photos");
  const b = trigger("team-b", "photos", "b-photos");
  it("a tenant's bucket reaches that tenant's Trigger only", () => {
    const r = route([rec("a-photos", "x.png"), rec("b-photos", "y.png")], [a, b]);
    assert.deepEqual(r.get(a), [0]);
    assert.deepEqual(r.get(b), [1]);
  });
  it("a record no Trigger wants reaches none", () => assert.equal(route([rec("c", "z")], [a, b]).size, 0));
  it("a disabled Trigger receives nothing", () =>
    assert.equal(
      route([rec("a-photos", "x")], [trigger("team-a", "off", "a-photos", { enabled: false })]).size,
      0,
    ));
  it("other trigger types are never routed to", () =>
    assert.equal(
      route(
        [rec("a-photos", "x")],
        [{ ...a, spec: { function: "f", type: "Timer", timer: { cronExpression: "* * * * *" } } }],
      ).size,
      0,
    ));
  it("posts to the adapter's Service in the Trigger's namespace", () =>
    assert.equal(
      adapterEventsUrl(a, "cluster.local"),
      "http://trig-photos.team-a.svc.cluster.local:8080/v1/events",
    ));
});
