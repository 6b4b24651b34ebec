/**
 * Who may open a connection to a namespace's function and warm-pool pods: only Updraft's
 * activators (docs/security.md). Instance keys already refuse a call to the shim's port
 * without the function's key, but a Web or image function's own server listens on
 * 0.0.0.0:9000 in the pod, and only a NetworkPolicy can close that. The controller keeps
 * one policy per namespace with Functions or a warm pool, "updraft-instances"; it selects
 * pods by Updraft's component label, so a user's other pods in the namespace are untouched,
 * and it restricts ingress only (functions may call out).
 */
import type { V1NetworkPolicy } from "@kubernetes/client-node";
import { Labels } from "../api/v1alpha1.ts";
import { INSTANCE_CHANNEL_PORT } from "../protocol/instance-channel.ts";

export const INSTANCES_POLICY_NAME = "updraft-instances";

/**
 * Example: namespace "shop", Updraft in "updraft-system" → a policy in shop selecting pods
 * labelled app.kubernetes.io/managed-by=updraft with component function or warm-pool, that
 * lets in TCP to 8080 and 8081 from pods app.kubernetes.io/name=updraft-activator of updraft-system.
 */
export function makeInstancesNetworkPolicy(namespace: string, updraftNamespace: string): V1NetworkPolicy {
  return {
    apiVersion: "networking.k8s.io/v1",
    kind: "NetworkPolicy",
    metadata: {
      name: INSTANCES_POLICY_NAME,
      namespace,
      labels: { [Labels.managedBy]: "updraft", [Labels.partOf]: "updraft" },
    },
    spec: {
      podSelector: {
        matchLabels: { [Labels.managedBy]: "updraft" },
        matchExpressions: [{ key: Labels.component, operator: "In", values: ["function", "warm-pool"] }],
      },
      policyTypes: ["Ingress"],
      ingress: [
        {
          _from: [
            {
              namespaceSelector: { matchLabels: { "kubernetes.io/metadata.name": updraftNamespace } },
              podSelector: { matchLabels: { "app.kubernetes.io/name": "updraft-activator" } },
            },
          ],
          // The shim's ports only (HTTP and the instance channel): a Web or image
          // function's 9000 is the shim's to reach.
          ports: [
            { port: 8080, protocol: "TCP" },
            { port: INSTANCE_CHANNEL_PORT, protocol: "TCP" },
          ],
        },
      ],
    },
  };
}

/**
 * Makes sure each namespace has its policy, once per namespace for the controller's life
 * (a namespace's first reconcile after a start checks it again, so a deleted or edited
 * policy comes back on the next restart or resync of a new namespace).
 */
export class InstancePolicies {
  private readonly ensured = new Set<string>();
  private readonly api: { ensureNetworkPolicy(desired: V1NetworkPolicy): Promise<void> };
  private readonly updraftNamespace: string;

  constructor(
    api: { ensureNetworkPolicy(desired: V1NetworkPolicy): Promise<void> },
    updraftNamespace: string,
  ) {
    this.api = api;
    this.updraftNamespace = updraftNamespace;
  }

  async ensure(namespace: string): Promise<void> {
    if (this.ensured.has(namespace)) return;
    await this.api.ensureNetworkPolicy(makeInstancesNetworkPolicy(namespace, this.updraftNamespace));
    this.ensured.add(namespace);
  }
}
