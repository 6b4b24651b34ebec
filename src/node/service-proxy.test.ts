import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { readyEndpoints, serviceHostsLines } from "./service-proxy.ts";

describe("serviceHostsLines", () => {
  const services = [
    { metadata: { name: "web", namespace: "a" }, spec: { clusterIP: "10.96.0.10" } },
    { metadata: { name: "db", namespace: "b" }, spec: { clusterIP: "10.96.0.11" } },
    { metadata: { name: "headless", namespace: "a" }, spec: { clusterIP: "None" } },
  ];
  it("gives the short name only in the pod's own namespace, and every qualified name", () => {
    assert.deepEqual(serviceHostsLines(services, "a", "cluster.local"), [
      "10.96.0.10\tweb web.a web.a.svc web.a.svc.cluster.local",
      "10.96.0.11\tdb.b db.b.svc db.b.svc.cluster.local",
    ]);
  });
});

describe("readyEndpoints", () => {
  it("keeps ready, non-terminating endpoints of the named port", () => {
    const slices = [
      {
        addressType: "IPv4",
        ports: [{ name: "http", port: 8080 }],
        endpoints: [
          { addresses: ["10.0.0.1"], conditions: { ready: true } },
          { addresses: ["10.0.0.2"], conditions: { ready: false } },
          { addresses: ["10.0.0.3"], conditions: { ready: true, terminating: true } },
        ],
      },
    ];
    assert.deepEqual(readyEndpoints(slices, "http"), [{ ip: "10.0.0.1", port: 8080 }]);
    assert.deepEqual(readyEndpoints(slices, "other"), []);
  });
});
