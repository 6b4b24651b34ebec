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
  type V1ObjectMeta,
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
    const { namespace, name } = placeOf(sa);
    // Made once for an adapter; its content is the API server's (tokens), never compared.
    await this.ensureOwned(sa, {
      resource: "serviceaccounts",
      read: () => this.core.readNamespacedServiceAccount({ namespace, name }),
      create: () => this.core.createNamespacedServiceAccount({ namespace, body: sa }),
    });
  }

  async ensureRoleBinding(rb: V1RoleBinding): Promise<void> {
    const { namespace, name } = placeOf(rb);
    // A RoleBinding's roleRef cannot change: made once, never replaced.
    await this.ensureOwned(rb, {
      resource: "rolebindings",
      read: () => this.rbac.readNamespacedRoleBinding({ namespace, name }),
      create: () => this.rbac.createNamespacedRoleBinding({ namespace, body: rb }),
    });
  }

  async ensureSecret(desired: V1Secret, owner?: string): Promise<void> {
    const { namespace, name } = placeOf(desired);
    await this.ensureOwned(desired, {
      resource: "secrets",
      kind: "Secret",
      read: () => this.core.readNamespacedSecret({ namespace, name }),
      create: () => this.core.createNamespacedSecret({ namespace, body: desired }),
      replace: (body) => this.core.replaceNamespacedSecret({ namespace, name, body }),
      ours: (existing) =>
        owner
          ? (existing.metadata?.ownerReferences?.some((r) => r.uid === owner) ?? false)
          : isUpdraftLabelled(existing),
      same: (existing) => JSON.stringify(existing.data ?? {}) === JSON.stringify(desired.data ?? {}),
      foreign: "SecretExists",
    });
  }

  async ensureNetworkPolicy(desired: V1NetworkPolicy): Promise<void> {
    const { namespace, name } = placeOf(desired);
    await this.ensureOwned(desired, {
      resource: "networkpolicies",
      kind: "NetworkPolicy",
      read: () => this.networking.readNamespacedNetworkPolicy({ namespace, name }),
      create: () => this.networking.createNamespacedNetworkPolicy({ namespace, body: desired }),
      replace: (body) => this.networking.replaceNamespacedNetworkPolicy({ namespace, name, body }),
      ours: isUpdraftLabelled,
      same: (existing) => semanticEqual(existing.spec, desired.spec),
      foreign: "NetworkPolicyExists",
    });
  }

  /**
   * `desired` made to exist: created when absent (a 409 from a racing writer is read back).
   * With `replace`, one already there must be Updraft's (`ours`, else the permanent error
   * `foreign`) and is replaced, at its resourceVersion, when it is not the `same`. Without
   * it, what is there is left as it is.
   */
  private async ensureOwned<T extends { metadata?: V1ObjectMeta }>(
    desired: T,
    ops: {
      resource: string;
      /** What the error calls it: "Secret". */
      kind?: string;
      read: () => Promise<T>;
      create: () => Promise<unknown>;
      replace?: (body: T) => Promise<unknown>;
      ours?: (existing: T) => boolean;
      same?: (existing: T) => boolean;
      foreign?: string;
    },
  ): Promise<void> {
    let existing: T | undefined;
    try {
      existing = await ops.read();
    } catch (err) {
      if (!isNotFound(err)) throw err;
    }
    if (!existing) {
      this.count("create", ops.resource);
      try {
        await ops.create();
        return;
      } catch (err) {
        if (!isAlreadyExists(err)) throw err;
        if (!ops.replace) return;
        existing = await ops.read();
      }
    }
    if (!ops.replace) return;
    const { namespace, name } = placeOf(desired);
    if (ops.ours && !ops.ours(existing))
      throw new UpdraftError(
        ops.foreign ?? "ObjectExists",
        `${ops.kind ?? ops.resource} ${namespace}/${name} exists and is not Updraft's`,
        { permanent: true },
      );
    if (ops.same?.(existing)) return;
    this.count("update", ops.resource);
    await ops.replace({
      ...desired,
      metadata: { ...desired.metadata, resourceVersion: existing.metadata?.resourceVersion },
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

/** An object's namespace and name, which every desired object here has. */
function placeOf(o: { metadata?: V1ObjectMeta }): { namespace: string; name: string } {
  return { namespace: o.metadata!.namespace!, name: o.metadata!.name! };
}

const isUpdraftLabelled = (o: { metadata?: V1ObjectMeta }): boolean =>
  o.metadata?.labels?.["app.kubernetes.io/managed-by"] === "updraft";
