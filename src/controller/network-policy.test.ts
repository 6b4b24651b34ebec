import assert from "node:assert/strict";
import { describe, it } from "node:test";
import type { V1NetworkPolicy } from "@kubernetes/client-node";
import { InstancePolicies, makeInstancesNetworkPolicy } from "./network-policy.ts";

describe("makeInstancesNetworkPolicy", () => {
  const p = makeInstancesNetworkPolicy("shop", "updraft-system");
  it("selects Updraft's function and warm-pool pods only, not the namespace's other pods", () => {
    assert.deepEqual(p.spec?.podSelector, {
      matchLabels: { "app.kubernetes.io/managed-by": "updraft" },
      matchExpressions: [
        { key: "app.kubernetes.io/component", operator: "In", values: ["function", "warm-pool"] },
      ],
    });
  });
  it("restricts ingress only: functions still call out", () =>
    assert.deepEqual(p.spec?.policyTypes, ["Ingress"]));
  it("lets in the activators of Updraft's namespace, on the shim's ports alone, HTTP and the instance channel (9000 stays closed)", () => {
    assert.deepEqual(p.spec?.ingress, [
      {
        _from: [
          {
            namespaceSelector: { matchLabels: { "kubernetes.io/metadata.name": "updraft-system" } },
            podSelector: { matchLabels: { "app.kubernetes.io/name": "updraft-activator" } },
          },
        ],
        ports: [
          { port: 8080, protocol: "TCP" },
          { port: 8081, protocol: "TCP" },
        ],
      },
    ]);
  });
  it("is labelled Updraft's, so the controller never overwrites a user's policy of that name", () =>
    assert.equal(p.metadata?.labels?.["app.kubernetes.io/managed-by"], "updraft"));
});

describe("InstancePolicies", () => {
  it("asks the API once per namespace, and again after a failure", async () => {
    const asked: string[] = [];
    let fail = true;
    const policies = new InstancePolicies(
      {
        ensureNetworkPolicy: async (d: V1NetworkPolicy) => {
          asked.push(d.metadata!.namespace!);
          if (d.metadata!.namespace === "b" && fail) {
            fail = false;
            throw new Error("apiserver unavailable");
          }
        },
      },
      "updraft-system",
    );
    await policies.ensure("a");
    await policies.ensure("a");
    await assert.rejects(policies.ensure("b"));
    await policies.ensure("b");
    await policies.ensure("b");
    assert.deepEqual(asked, ["a", "b", "b"]);
  });
});
