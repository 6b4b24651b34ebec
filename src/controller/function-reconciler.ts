/**
 * Level-triggered reconcile of one Function: read it from the cache, deep-copy, run the
 * phases (code, Deployment, Service, clean-up), mark typed conditions, and write status
 * once, only if it changed. Running it again on a converged Function writes nothing.
 */

import type { V1ConfigMap, V1Deployment, V1Pod, V1Service } from "@kubernetes/client-node";
import {
  Annotations,
  FunctionConditions as C,
  type FunctionStatus,
  INLINE_CODE_LIMIT_BYTES,
  Labels,
  type UpdraftFunction,
} from "../api/v1alpha1.ts";
import { ConditionSet } from "../lib/conditions.ts";
import { deepCopy, semanticEqual } from "../lib/deep.ts";
import { isAlreadyExists, UpdraftError } from "../lib/errors.ts";
import type { EventRecorder } from "../lib/events.ts";
import type { Cache } from "../lib/kube.ts";
import { splitKey } from "../lib/kube.ts";
import type { Logger } from "../lib/logger.ts";
import { STORED_PACKAGE_PREFIX } from "../protocol/packages.ts";
import type { ControllerApi } from "./api.ts";
import {
  type BuilderConfig,
  childName,
  codeConfigMapName,
  codeSha256,
  functionUrl,
  makeCodeConfigMap,
  makeDeployment,
  makeFunctionKeySecret,
  makeService,
} from "./builders.ts";
import { activeVerdict, deploymentVerdict, instancesVerdict, rolloutComplete } from "./status.ts";

export interface FunctionReconcilerDeps {
  functions: Cache<UpdraftFunction>;
  deployments: Cache<V1Deployment>;
  services: Cache<V1Service>;
  /** Code ConfigMaps made by the controller (label updraft.dev/function). */
  codeConfigMaps: Cache<V1ConfigMap>;
  /** Function pods (label updraft.dev/function), to say why instances do not start. */
  pods: { list(namespace?: string): readonly V1Pod[] };
  api: ControllerApi;
  events: EventRecorder;
  cfg: BuilderConfig;
  now: () => Date;
  log: Logger;
  /** The namespace's NetworkPolicy for instances (network-policy.ts); none: the chart turned them off. */
  instancePolicies?: { ensure(namespace: string): Promise<void> };
}

export interface ReconcileResult {
  requeueAfterMs?: number;
}

/** How often a Function whose code ConfigMap (configMapRef) is missing is looked at again. */
const MISSING_CODE_RECHECK_MS = 10_000;

const CONDITION_ORDER = [C.Ready, C.CodeReady, C.DeploymentReady, C.InstancesHealthy, C.Active];

const ownedBy = (
  obj: { metadata?: { ownerReferences?: Array<{ uid?: string }> } },
  uid: string | undefined,
) => (obj.metadata?.ownerReferences ?? []).some((o) => o.uid === uid);

/** Bytes of inline code: UTF-8 lengths of the files and their names. */
export function inlineCodeBytes(inline: Record<string, string>): number {
  let n = 0;
  for (const [name, text] of Object.entries(inline)) n += Buffer.byteLength(name) + Buffer.byteLength(text);
  return n;
}

export class FunctionReconciler {
  private readonly d: FunctionReconcilerDeps;

  constructor(d: FunctionReconcilerDeps) {
    this.d = d;
  }

  async reconcile(key: string): Promise<ReconcileResult | undefined> {
    const { namespace, name } = splitKey(key);
    const cached = this.d.functions.get(name, namespace);
    // Deleted: owner references let the garbage collector remove the children.
    if (!cached || cached.metadata.deletionTimestamp) return undefined;
    const fn = deepCopy(cached);
    const conds = new ConditionSet(fn.status?.conditions, fn.metadata.generation, this.d.now);
    let result: ReconcileResult | undefined;

    // Phase 1: code.
    const code = await this.reconcileCode(fn, conds);
    let deployment = this.d.deployments.get(childName(name), namespace);
    if (!code.ready) {
      conds.markUnknown(C.DeploymentReady, "WaitingForCode", "the Deployment is made once the code is found");
      result = { requeueAfterMs: MISSING_CODE_RECHECK_MS };
    } else if (deployment && !ownedBy(deployment, fn.metadata.uid)) {
      // Never take over an object someone else made (Knative does the same).
      conds.markFalse(
        C.DeploymentReady,
        "NotOwned",
        `Deployment ${childName(name)} exists and is not this Function's`,
      );
    } else {
      // Phase 2 and 3: Deployment and Service — behind the namespace's policy, made first.
      await this.d.instancePolicies?.ensure(fn.metadata.namespace!);
      deployment = await this.reconcileDeployment(fn, code.sha, deployment);
      await this.reconcileService(fn);
      // Phase 4: code ConfigMaps of earlier versions, once no pod can still mount them.
      await this.cleanUpCode(fn, deployment);
      const v = deploymentVerdict(deployment);
      conds.mark(C.DeploymentReady, v.status, v.reason, v.message);
    }
    const instances = instancesVerdict(
      this.d.pods.list(namespace).filter((p) => p.metadata?.labels?.[Labels.function] === name),
      this.d.now(),
    );
    conds.mark(C.InstancesHealthy, instances.status, instances.reason, instances.message);
    // A failure the kubelet is retrying turns False when its grace ends, even if no pod
    // changes by then: look again at that moment.
    if (instances.recheckAfterMs !== undefined)
      result = {
        requeueAfterMs: Math.min(result?.requeueAfterMs ?? Infinity, instances.recheckAfterMs),
      };
    const active = activeVerdict(deployment);
    conds.mark(C.Active, active.status, active.reason, active.message);
    conds.summarize(C.Ready, [C.CodeReady, C.DeploymentReady, C.InstancesHealthy]);

    const status: FunctionStatus = {
      observedGeneration: fn.metadata.generation,
      conditions: conds.list(CONDITION_ORDER),
      url: functionUrl(fn, this.d.cfg),
      replicas: deployment?.status?.replicas ?? 0,
      readyReplicas: deployment?.status?.readyReplicas ?? 0,
      codeSha256: code.sha,
      deploymentName: childName(name),
    };
    if (!semanticEqual(status, fn.status)) {
      fn.status = status;
      await this.d.api.replaceFunctionStatus(fn);
      this.recordTransitions(fn, conds);
    }
    return result;
  }

  private async reconcileCode(
    fn: UpdraftFunction,
    conds: ConditionSet,
  ): Promise<{ ready: boolean; sha: string }> {
    const spec = fn.spec.code;
    if (spec.inline) {
      // The apiserver cannot afford a CEL rule summing the files (its cost estimate is over
      // budget), so the total is checked here: above it the ConfigMap would be refused.
      const bytes = inlineCodeBytes(spec.inline);
      if (bytes > INLINE_CODE_LIMIT_BYTES) {
        conds.markFalse(
          C.CodeReady,
          "InlineCodeTooLarge",
          `spec.code.inline holds ${bytes} bytes, over the ${INLINE_CODE_LIMIT_BYTES} a ConfigMap can hold: use code.url (a zip or tar.gz package) or code.image`,
        );
        return { ready: false, sha: "" };
      }
      const desired = makeCodeConfigMap(fn)!;
      const existing = this.d.codeConfigMaps.get(desired.metadata!.name!, fn.metadata.namespace);
      if (!existing) {
        try {
          await this.d.api.createConfigMap(desired);
        } catch (err) {
          if (!isAlreadyExists(err)) throw err; // our cache was behind: it is there
        }
      }
      conds.markTrue(C.CodeReady, "ConfigMapReady", `code in ConfigMap ${desired.metadata!.name}`);
      return { ready: true, sha: codeSha256(fn) };
    }
    if (spec.configMapRef) {
      const cm = await this.d.api.readConfigMap(fn.metadata.namespace!, spec.configMapRef.name);
      if (!cm) {
        conds.markFalse(C.CodeReady, "ConfigMapNotFound", `ConfigMap ${spec.configMapRef.name} not found`);
        return { ready: false, sha: fn.status?.codeSha256 ?? "" };
      }
      const key = spec.configMapRef.key;
      if (key && !(key in (cm.binaryData ?? {})) && !(key in (cm.data ?? {}))) {
        conds.markFalse(
          C.CodeReady,
          "ConfigMapKeyNotFound",
          `ConfigMap ${spec.configMapRef.name} has no key ${key} (the zip or tar.gz package)`,
        );
        return { ready: false, sha: fn.status?.codeSha256 ?? "" };
      }
      conds.markTrue(
        C.CodeReady,
        "ConfigMapReady",
        key
          ? `code package ${key} in ConfigMap ${spec.configMapRef.name}, unpacked by each instance at start`
          : `code in ConfigMap ${spec.configMapRef.name}`,
      );
      return { ready: true, sha: codeSha256(fn, cm) };
    }
    if (spec.url?.startsWith(STORED_PACKAGE_PREFIX) && !this.d.cfg.codeStore) {
      conds.markFalse(
        C.CodeReady,
        "CodeStoreNotConfigured",
        `spec.code.url ${spec.url} is a package kept by Updraft, and this installation keeps none: set codeStore.enabled in the chart, or give an http(s) URL`,
      );
      return { ready: false, sha: "" };
    }
    if (spec.url) {
      conds.markTrue(
        C.CodeReady,
        "PackageReferenced",
        "package fetched and verified by each instance at start",
      );
      return { ready: true, sha: codeSha256(fn) };
    }
    // An image function: the user's image runs beside the shim (builders.ts, imageContainers).
    conds.markTrue(C.CodeReady, "Image", `image ${spec.image} runs beside the runtime shim`);
    return { ready: true, sha: codeSha256(fn) };
  }

  private async reconcileDeployment(
    fn: UpdraftFunction,
    sha: string,
    existing: V1Deployment | undefined,
  ): Promise<V1Deployment> {
    const desired = makeDeployment(fn, this.d.cfg, sha);
    const wantHash = desired.metadata!.annotations![Annotations.specHash];
    if (existing?.metadata?.annotations?.[Annotations.specHash] === wantHash) return existing!;
    // The key's Secret before the pods that read it (a new Deployment, or a new key).
    const keys = this.d.cfg.instanceKeys;
    if (keys)
      await this.d.api.ensureSecret(
        makeFunctionKeySecret(fn, keys.function(fn.metadata.namespace!, fn.metadata.name!)),
        fn.metadata.uid,
      );
    if (!existing) {
      try {
        const created = await this.d.api.createDeployment(desired);
        this.d.events.record(fn, "Normal", "Created", `created Deployment ${desired.metadata!.name}`);
        return created;
      } catch (err) {
        if (isAlreadyExists(err)) {
          // Someone else's object of that name, or our cache is behind; look again soon.
          throw new UpdraftError("DeploymentExists", `Deployment ${desired.metadata!.name} exists`, {
            cause: err,
          });
        }
        throw err;
      }
    }
    const update = deepCopy(existing);
    update.metadata!.labels = { ...existing.metadata?.labels, ...desired.metadata!.labels };
    update.metadata!.annotations = { ...existing.metadata?.annotations, [Annotations.specHash]: wantHash! };
    // Everything but replicas: whoever scales the function owns that field.
    update.spec = { ...desired.spec!, replicas: existing.spec?.replicas };
    const updated = await this.d.api.replaceDeployment(update);
    this.d.events.record(
      fn,
      "Normal",
      "Updated",
      `rolled Deployment ${desired.metadata!.name} to the new spec`,
    );
    return updated;
  }

  private async reconcileService(fn: UpdraftFunction): Promise<void> {
    const desired = makeService(fn);
    const existing = this.d.services.get(desired.metadata!.name!, fn.metadata.namespace);
    if (!existing) {
      try {
        await this.d.api.createService(desired);
      } catch (err) {
        if (!isAlreadyExists(err)) throw err;
      }
      return;
    }
    if (!ownedBy(existing, fn.metadata.uid)) return;
    const wantHash = desired.metadata!.annotations![Annotations.specHash];
    if (existing.metadata?.annotations?.[Annotations.specHash] === wantHash) return;
    const update = deepCopy(existing);
    update.metadata!.labels = { ...existing.metadata?.labels, ...desired.metadata!.labels };
    update.metadata!.annotations = { ...existing.metadata?.annotations, [Annotations.specHash]: wantHash! };
    // Keep clusterIP and the rest the apiserver allocated.
    update.spec = {
      ...existing.spec,
      selector: desired.spec!.selector,
      ports: desired.spec!.ports,
      type: "ClusterIP",
    };
    await this.d.api.replaceService(update);
  }

  private async cleanUpCode(fn: UpdraftFunction, deployment: V1Deployment | undefined): Promise<void> {
    if (!deployment || !rolloutComplete(deployment)) return;
    const current = codeConfigMapName(fn);
    const mounted = deployment.spec?.template?.spec?.volumes?.find((v) => v.name === "code")?.configMap?.name;
    if (mounted !== current && fn.spec.code.inline) return; // the Deployment has not rolled to it yet
    for (const cm of this.d.codeConfigMaps.list(fn.metadata.namespace)) {
      if (cm.metadata?.labels?.[Labels.function] !== fn.metadata.name) continue;
      if (cm.metadata?.name === current || !ownedBy(cm, fn.metadata.uid)) continue;
      await this.d.api.deleteConfigMap(fn.metadata.namespace!, cm.metadata!.name!);
    }
  }

  private recordTransitions(fn: UpdraftFunction, conds: ConditionSet): void {
    for (const change of conds.changes) {
      // Only settled transitions are news; Unknown is the normal step in between.
      if (change.type !== C.Ready || change.from === change.to || change.to === "Unknown") continue;
      const type = change.to === "False" ? "Warning" : "Normal";
      const message = change.message || `Function is ${change.to === "True" ? "ready" : "not ready"}`;
      this.d.events.record(fn, type, change.to === "True" ? "Ready" : change.reason, message);
    }
  }
}
