/**
 * The controller's narrow view of the Kubernetes API: the reads it cannot serve from an
 * informer cache and every write it makes. Every write goes through here and is counted
 * (updraft_controller_api_writes_total), so "an idle Function causes no writes" is a
 * number anyone can read off /metrics.
 */
import {
  type AppsV1Api,
  AppsV1Api as AppsV1ApiClass,
  type CoreV1Api,
  CoreV1Api as CoreV1ApiClass,
  type CoreV1Event,
  type CustomObjectsApi,
  CustomObjectsApi as CustomObjectsApiClass,
  type KubeConfig,
  NetworkingV1Api,
  RbacAuthorizationV1Api,
  type V1ConfigMap,
  type V1Deployment,
  type V1NetworkPolicy,
  type V1RoleBinding,
  type V1Secret,
  type V1Service,
  type V1ServiceAccount,
} from "@kubernetes/client-node";
import type { Counter } from "prom-client";
import {
  FUNCTIONS,
  GROUP,
  TRIGGERS,
  type UpdraftFunction,
  type UpdraftTrigger,
  VERSION,
} from "../api/v1alpha1.ts";
import { semanticEqual } from "../lib/deep.ts";
import { isAlreadyExists, isNotFound, UpdraftError } from "../lib/errors.ts";

export interface ControllerApi {
  readConfigMap(namespace: string, name: string): Promise<V1ConfigMap | undefined>;
  createConfigMap(cm: V1ConfigMap): Promise<V1ConfigMap>;
  deleteConfigMap(namespace: string, name: string): Promise<void>;
  createDeployment(d: V1Deployment): Promise<V1Deployment>;
  replaceDeployment(d: V1Deployment): Promise<V1Deployment>;
  createService(s: V1Service): Promise<V1Service>;
  replaceService(s: V1Service): Promise<V1Service>;
  replaceFunctionStatus(fn: UpdraftFunction): Promise<void>;
  replaceTriggerStatus(t: UpdraftTrigger): Promise<void>;
  createEvent(e: CoreV1Event): Promise<void>;
  deleteDeployment(namespace: string, name: string): Promise<void>;
  deleteService(namespace: string, name: string): Promise<void>;
  /** Creates each object unless one of its name exists (AlreadyExists is success). */
  ensureServiceAccount(sa: V1ServiceAccount): Promise<void>;
  ensureRoleBinding(rb: V1RoleBinding): Promise<void>;
  /**
   * Makes the Secret hold `desired`'s data: created when missing, replaced when its data
   * differs and it is `owner`'s (or Updraft's, when no owner is given); another's of that
   * name is an error (SecretExists), never overwritten.
   */
  ensureSecret(desired: V1Secret, owner?: string): Promise<void>;
  /** Creates the policy, or puts its spec back when it differs (only Updraft's own). */
  ensureNetworkPolicy(desired: V1NetworkPolicy): Promise<void>;
}

export class KubeControllerApi implements ControllerApi {
  private readonly core: CoreV1Api;
  private readonly apps: AppsV1Api;
  private readonly custom: CustomObjectsApi;
  private readonly rbac: RbacAuthorizationV1Api;
  private readonly networking: NetworkingV1Api;

  private readonly writes: Counter<"verb" | "resource">;

  constructor(kc: KubeConfig, writes: Counter<"verb" | "resource">) {
    this.writes = writes;
    this.core = kc.makeApiClient(CoreV1ApiClass);
    this.apps = kc.makeApiClient(AppsV1ApiClass);
    this.custom = kc.makeApiClient(CustomObjectsApiClass);
    this.rbac = kc.makeApiClient(RbacAuthorizationV1Api);
    this.networking = kc.makeApiClient(NetworkingV1Api);
  }

  async deleteDeployment(namespace: string, name: string): Promise<void> {
    this.count("delete", "deployments");
    try {
      await this.apps.deleteNamespacedDeployment({ namespace, name, propagationPolicy: "Background" });
    } catch (err) {
      if (!isNotFound(err)) throw err;
    }
  }

  async deleteService(namespace: string, name: string): Promise<void> {
    this.count("delete", "services");
    try {
      await this.core.deleteNamespacedService({ namespace, name });
    } catch (err) {
      if (!isNotFound(err)) throw err;
    }
  }

  async ensureServiceAccount(sa: V1ServiceAccount): Promise<void> {
    try {
      await this.core.readNamespacedServiceAccount({
        namespace: sa.metadata!.namespace!,
        name: sa.metadata!.name!,
      });
      return;
    } catch (err) {
      if (!isNotFound(err)) throw err;
    }
    this.count("create", "serviceaccounts");
    try {
      await this.core.createNamespacedServiceAccount({ namespace: sa.metadata!.namespace!, body: sa });
    } catch (err) {
      if (!isAlreadyExists(err)) throw err;
    }
  }

  async ensureRoleBinding(rb: V1RoleBinding): Promise<void> {
    try {
      await this.rbac.readNamespacedRoleBinding({
        namespace: rb.metadata!.namespace!,
        name: rb.metadata!.name!,
      });
      return;
    } catch (err) {
      if (!isNotFound(err)) throw err;
    }
    this.count("create", "rolebindings");
    try {
      await this.rbac.createNamespacedRoleBinding({ namespace: rb.metadata!.namespace!, body: rb });
    } catch (err) {
      if (!isAlreadyExists(err)) throw err;
    }
  }

  async ensureSecret(desired: V1Secret, owner?: string): Promise<void> {
    const namespace = desired.metadata!.namespace!;
    const name = desired.metadata!.name!;
    let existing: V1Secret | undefined;
    try {
      existing = await this.core.readNamespacedSecret({ namespace, name });
    } catch (err) {
      if (!isNotFound(err)) throw err;
    }
    if (!existing) {
      this.count("create", "secrets");
      try {
        await this.core.createNamespacedSecret({ namespace, body: desired });
        return;
      } catch (err) {
        if (!isAlreadyExists(err)) throw err;
        existing = await this.core.readNamespacedSecret({ namespace, name });
      }
    }
    const ours = owner
      ? existing.metadata?.ownerReferences?.some((r) => r.uid === owner)
      : existing.metadata?.labels?.["app.kubernetes.io/managed-by"] === "updraft";
    if (!ours)
      throw new UpdraftError("SecretExists", `Secret ${namespace}/${name} exists and is not Updraft's`, {
        permanent: true,
      });
    const same = JSON.stringify(existing.data ?? {}) === JSON.stringify(desired.data ?? {});
    if (same) return;
    this.count("update", "secrets");
    await this.core.replaceNamespacedSecret({
      namespace,
      name,
      body: {
        ...desired,
        metadata: { ...desired.metadata, resourceVersion: existing.metadata?.resourceVersion },
      },
    });
  }

  async ensureNetworkPolicy(desired: V1NetworkPolicy): Promise<void> {
    const namespace = desired.metadata!.namespace!;
    const name = desired.metadata!.name!;
    let existing: V1NetworkPolicy | undefined;
    try {
      existing = await this.networking.readNamespacedNetworkPolicy({ namespace, name });
    } catch (err) {
      if (!isNotFound(err)) throw err;
    }
    if (!existing) {
      this.count("create", "networkpolicies");
      try {
        await this.networking.createNamespacedNetworkPolicy({ namespace, body: desired });
        return;
      } catch (err) {
        if (!isAlreadyExists(err)) throw err;
        existing = await this.networking.readNamespacedNetworkPolicy({ namespace, name });
      }
    }
    if (existing.metadata?.labels?.["app.kubernetes.io/managed-by"] !== "updraft")
      throw new UpdraftError(
        "NetworkPolicyExists",
        `NetworkPolicy ${namespace}/${name} exists and is not Updraft's`,
        {
          permanent: true,
        },
      );
    if (semanticEqual(existing.spec, desired.spec)) return;
    this.count("update", "networkpolicies");
    await this.networking.replaceNamespacedNetworkPolicy({
      namespace,
      name,
      body: {
        ...desired,
        metadata: { ...desired.metadata, resourceVersion: existing.metadata?.resourceVersion },
      },
    });
  }

  private count(verb: string, resource: string): void {
    this.writes.inc({ verb, resource });
  }

  async readConfigMap(namespace: string, name: string): Promise<V1ConfigMap | undefined> {
    try {
      return await this.core.readNamespacedConfigMap({ namespace, name });
    } catch (err) {
      if (isNotFound(err)) return undefined;
      throw err;
    }
  }

  createConfigMap(cm: V1ConfigMap): Promise<V1ConfigMap> {
    this.count("create", "configmaps");
    return this.core.createNamespacedConfigMap({ namespace: cm.metadata!.namespace!, body: cm });
  }

  async deleteConfigMap(namespace: string, name: string): Promise<void> {
    this.count("delete", "configmaps");
    try {
      await this.core.deleteNamespacedConfigMap({ namespace, name });
    } catch (err) {
      if (!isNotFound(err)) throw err;
    }
  }

  createDeployment(d: V1Deployment): Promise<V1Deployment> {
    this.count("create", "deployments");
    return this.apps.createNamespacedDeployment({ namespace: d.metadata!.namespace!, body: d });
  }

  replaceDeployment(d: V1Deployment): Promise<V1Deployment> {
    this.count("update", "deployments");
    return this.apps.replaceNamespacedDeployment({
      namespace: d.metadata!.namespace!,
      name: d.metadata!.name!,
      body: d,
    });
  }

  createService(s: V1Service): Promise<V1Service> {
    this.count("create", "services");
    return this.core.createNamespacedService({ namespace: s.metadata!.namespace!, body: s });
  }

  replaceService(s: V1Service): Promise<V1Service> {
    this.count("update", "services");
    return this.core.replaceNamespacedService({
      namespace: s.metadata!.namespace!,
      name: s.metadata!.name!,
      body: s,
    });
  }

  async replaceFunctionStatus(fn: UpdraftFunction): Promise<void> {
    this.count("update", "functions/status");
    await this.custom.replaceNamespacedCustomObjectStatus({
      group: GROUP,
      version: VERSION,
      plural: FUNCTIONS,
      namespace: fn.metadata.namespace!,
      name: fn.metadata.name!,
      body: fn,
    });
  }

  async replaceTriggerStatus(t: UpdraftTrigger): Promise<void> {
    this.count("update", "triggers/status");
    await this.custom.replaceNamespacedCustomObjectStatus({
      group: GROUP,
      version: VERSION,
      plural: TRIGGERS,
      namespace: t.metadata.namespace!,
      name: t.metadata.name!,
      body: t,
    });
  }

  async createEvent(e: CoreV1Event): Promise<void> {
    this.count("create", "events");
    await this.core.createNamespacedEvent({ namespace: e.metadata.namespace!, body: e });
  }
}
