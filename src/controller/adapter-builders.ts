/**
 * Pure builders of a Trigger's children: the adapter Deployment (every non-Http Trigger),
 * its Service (push adapters, which a router posts to), and the namespace's adapter
 * identity (a ServiceAccount bound to the chart's updraft-trigger-adapter ClusterRole:
 * read Triggers, write their status — in that namespace only).
 */
import type {
  V1Deployment,
  V1EnvVar,
  V1OwnerReference,
  V1RoleBinding,
  V1Service,
  V1ServiceAccount,
} from "@kubernetes/client-node";
import {
  Annotations,
  API_VERSION,
  Labels,
  resolveFunctionSpec,
  type UpdraftFunction,
  type UpdraftTrigger,
} from "../api/v1alpha1.ts";
import { canonicalJson, shortHash } from "../lib/hash.ts";
import { ADAPTER_PORT, ADAPTER_SERVICE_ACCOUNT, adapterName } from "../protocol/triggers.ts";
import { RUN_AS_USER } from "./builders.ts";

export interface AdapterBuilderConfig {
  /** The control-plane image, which holds the adapter's entry point. */
  image: string;
  imagePullPolicy: string;
  activatorUrl: string;
  /** Where ObjectStorage adapters ask about buckets ("" when no object store is set up). */
  storageEventsUrl: string;
  /** The object store's endpoint, for the url in COS events. */
  storeEndpoint: string;
  /** The ClusterRole adapters are bound to in their namespace. */
  adapterClusterRole: string;
  logLevel: string;
}

export const ADAPTER_COMMAND = ["node", "/app/src/cmd/adapter/main.ts"];

export function adapterLabels(t: UpdraftTrigger): Record<string, string> {
  return {
    [Labels.trigger]: t.metadata.name!,
    [Labels.name]: adapterName(t.metadata.name!),
    [Labels.component]: "trigger-adapter",
    [Labels.managedBy]: "updraft",
    [Labels.partOf]: "updraft",
  };
}

export function triggerOwnerReference(t: UpdraftTrigger): V1OwnerReference {
  return {
    apiVersion: API_VERSION,
    kind: "Trigger",
    name: t.metadata.name!,
    uid: t.metadata.uid!,
    controller: true,
    blockOwnerDeletion: true,
  };
}

/** Push adapters take events over HTTP (the storage-events router posts to them). */
export const isPush = (t: UpdraftTrigger): boolean => t.spec.type === "ObjectStorage";

function credentialEnv(secret: string | undefined): V1EnvVar[] {
  if (!secret) return [];
  return [
    { name: "UPDRAFT_SOURCE_USERNAME", valueFrom: { secretKeyRef: { name: secret, key: "username" } } },
    { name: "UPDRAFT_SOURCE_PASSWORD", valueFrom: { secretKeyRef: { name: secret, key: "password" } } },
  ];
}

/**
 * The adapter Deployment of a Trigger: "trig-{trigger}" in its namespace, owned by it, one
 * replica, Recreate (a consumer hands its partitions over before the next one starts). A
 * change of the Trigger's spec changes the pod template's hash annotation and so restarts
 * the adapter with the new spec. E.g. Timer "tick" of function "hello" → Deployment
 * trig-tick running node /app/src/cmd/adapter/main.ts with UPDRAFT_TRIGGER_NAME=tick.
 */
export function makeAdapterDeployment(
  t: UpdraftTrigger,
  fn: UpdraftFunction,
  cfg: AdapterBuilderConfig,
): V1Deployment {
  const labels = adapterLabels(t);
  const spec = resolveFunctionSpec(fn.spec);
  // A sync delivery may wait for a cold start and the whole run.
  const invokeTimeoutMs = (spec.initTimeoutSeconds + spec.timeoutSeconds + 30) * 1000;
  const secret = t.spec.kafka?.credentialsSecret ?? t.spec.queue?.credentialsSecret;
  const d: V1Deployment = {
    apiVersion: "apps/v1",
    kind: "Deployment",
    metadata: {
      name: adapterName(t.metadata.name!),
      namespace: t.metadata.namespace!,
      labels,
      ownerReferences: [triggerOwnerReference(t)],
    },
    spec: {
      replicas: 1,
      selector: {
        matchLabels: { [Labels.trigger]: t.metadata.name!, [Labels.component]: "trigger-adapter" },
      },
      revisionHistoryLimit: 2,
      strategy: { type: "Recreate" },
      template: {
        metadata: {
          labels,
          annotations: {
            [Annotations.specHash]: shortHash(canonicalJson({ spec: t.spec, timeout: invokeTimeoutMs })),
          },
        },
        spec: {
          serviceAccountName: ADAPTER_SERVICE_ACCOUNT,
          automountServiceAccountToken: true,
          enableServiceLinks: false,
          terminationGracePeriodSeconds: 30,
          securityContext: {
            runAsNonRoot: true,
            runAsUser: RUN_AS_USER,
            runAsGroup: RUN_AS_USER,
            seccompProfile: { type: "RuntimeDefault" },
          },
          containers: [
            {
              name: "adapter",
              image: cfg.image,
              imagePullPolicy: cfg.imagePullPolicy,
              command: ADAPTER_COMMAND,
              env: [
                { name: "UPDRAFT_TRIGGER_NAMESPACE", value: t.metadata.namespace! },
                { name: "UPDRAFT_TRIGGER_NAME", value: t.metadata.name! },
                { name: "UPDRAFT_ACTIVATOR_URL", value: cfg.activatorUrl },
                { name: "UPDRAFT_INVOKE_TIMEOUT_MS", value: String(invokeTimeoutMs) },
                { name: "UPDRAFT_STORAGE_EVENTS_URL", value: cfg.storageEventsUrl },
                { name: "UPDRAFT_S3_ENDPOINT", value: cfg.storeEndpoint },
                { name: "LOG_LEVEL", value: cfg.logLevel },
                ...credentialEnv(secret),
              ],
              ports: [{ name: "http", containerPort: ADAPTER_PORT, protocol: "TCP" }],
              readinessProbe: { httpGet: { path: "/readyz", port: ADAPTER_PORT }, periodSeconds: 2 },
              livenessProbe: { httpGet: { path: "/healthz", port: ADAPTER_PORT }, periodSeconds: 10 },
              resources: { requests: { cpu: "20m", memory: "80Mi" }, limits: { memory: "256Mi" } },
              securityContext: {
                allowPrivilegeEscalation: false,
                readOnlyRootFilesystem: true,
                runAsNonRoot: true,
                capabilities: { drop: ["ALL"] },
              },
            },
          ],
        },
      },
    },
  };
  return d;
}

/** The Service a router posts to: "trig-{trigger}", port 8080. */
export function makeAdapterService(t: UpdraftTrigger): V1Service {
  return {
    apiVersion: "v1",
    kind: "Service",
    metadata: {
      name: adapterName(t.metadata.name!),
      namespace: t.metadata.namespace!,
      labels: adapterLabels(t),
      ownerReferences: [triggerOwnerReference(t)],
    },
    spec: {
      selector: { [Labels.trigger]: t.metadata.name!, [Labels.component]: "trigger-adapter" },
      ports: [{ name: "http", port: ADAPTER_PORT, targetPort: ADAPTER_PORT, protocol: "TCP" }],
    },
  };
}

export function makeAdapterServiceAccount(namespace: string): V1ServiceAccount {
  return {
    apiVersion: "v1",
    kind: "ServiceAccount",
    metadata: {
      name: ADAPTER_SERVICE_ACCOUNT,
      namespace,
      labels: {
        [Labels.managedBy]: "updraft",
        [Labels.partOf]: "updraft",
        [Labels.component]: "trigger-adapter",
      },
    },
  };
}

export function makeAdapterRoleBinding(namespace: string, clusterRole: string): V1RoleBinding {
  return {
    apiVersion: "rbac.authorization.k8s.io/v1",
    kind: "RoleBinding",
    metadata: {
      name: ADAPTER_SERVICE_ACCOUNT,
      namespace,
      labels: {
        [Labels.managedBy]: "updraft",
        [Labels.partOf]: "updraft",
        [Labels.component]: "trigger-adapter",
      },
    },
    roleRef: { apiGroup: "rbac.authorization.k8s.io", kind: "ClusterRole", name: clusterRole },
    subjects: [{ kind: "ServiceAccount", name: ADAPTER_SERVICE_ACCOUNT, namespace }],
  };
}

/** Hash of what the controller owns in an adapter Deployment (all of its spec). */
export function adapterSpecHash(d: V1Deployment): string {
  return shortHash(canonicalJson(d.spec));
}
