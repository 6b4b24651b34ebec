/**
 * Keeps each warm pool (docs/warm-pool.md) as the chart describes it: for every namespace
 * that asked and every runtime with a size above zero, a Deployment of that many generic
 * instances; none where the size is 0 or the namespace is not listed any more. Keys are
 * "namespace/runtime". The pool's Deployment replaces the pods the activator takes out of
 * it (a specialised pod loses the pool's label, so the ReplicaSet lets it go and starts
 * another), so the pool refills in the background on its own.
 */
import type { V1Deployment } from "@kubernetes/client-node";
import { Annotations } from "../api/v1alpha1.ts";
import { deepCopy } from "../lib/deep.ts";
import { isAlreadyExists, UpdraftError } from "../lib/errors.ts";
import type { Cache } from "../lib/kube.ts";
import type { Logger } from "../lib/logger.ts";
import { POOL_LABEL, poolDeploymentName, type WarmPoolConfig } from "../protocol/pool.ts";
import type { ControllerApi } from "./api.ts";
import { type BuilderConfig, makePoolDeployment, makePoolKeySecret } from "./builders.ts";

export interface PoolReconcilerDeps {
  /** Deployments labelled updraft.dev/pool (the pools). */
  deployments: Cache<V1Deployment>;
  api: Pick<ControllerApi, "createDeployment" | "replaceDeployment" | "deleteDeployment" | "ensureSecret">;
  cfg: BuilderConfig;
  pool: WarmPoolConfig;
  log: Logger;
  /** The namespace's NetworkPolicy for instances (network-policy.ts); none: turned off. */
  instancePolicies?: { ensure(namespace: string): Promise<void> };
}

export class PoolReconciler {
  private readonly d: PoolReconcilerDeps;

  constructor(d: PoolReconcilerDeps) {
    this.d = d;
  }

  /** Every pool the chart asks for, as keys (a resync enqueues them; a missing one is created). */
  desiredKeys(): string[] {
    const keys: string[] = [];
    for (const ns of this.d.pool.namespaces)
      for (const [runtime, size] of Object.entries(this.d.pool.sizes))
        if (size > 0) keys.push(`${ns}/${runtime}`);
    return keys;
  }

  /** The key of a pool Deployment seen by the informer. */
  static keyOf(d: V1Deployment): string | undefined {
    const runtime = d.metadata?.labels?.[POOL_LABEL];
    return runtime ? `${d.metadata?.namespace}/${runtime}` : undefined;
  }

  async reconcile(key: string): Promise<undefined> {
    const i = key.indexOf("/");
    const namespace = key.slice(0, i);
    const runtime = key.slice(i + 1);
    const name = poolDeploymentName(runtime);
    const existing = this.d.deployments.get(name, namespace);
    const size = this.d.pool.namespaces.includes(namespace) ? (this.d.pool.sizes[runtime] ?? 0) : 0;
    if (size === 0) {
      if (existing) {
        await this.d.api.deleteDeployment(namespace, name);
        this.d.log.info("warm pool removed", { namespace, runtime });
      }
      return undefined;
    }
    const desired = makePoolDeployment(namespace, runtime, size, this.d.pool.memoryMB, this.d.cfg);
    const keys = this.d.cfg.instanceKeys;
    const ensureKey = async () => {
      if (keys) await this.d.api.ensureSecret(makePoolKeySecret(namespace, keys.pool(namespace)));
    };
    await this.d.instancePolicies?.ensure(namespace);
    if (!existing) {
      await ensureKey();
      try {
        await this.d.api.createDeployment(desired);
        this.d.log.info("warm pool created", { namespace, runtime, size });
      } catch (err) {
        if (isAlreadyExists(err))
          throw new UpdraftError("DeploymentExists", `Deployment ${namespace}/${name} exists`, {
            cause: err,
          });
        throw err;
      }
      return undefined;
    }
    const wantHash = desired.metadata!.annotations![Annotations.specHash];
    if (
      existing.metadata?.annotations?.[Annotations.specHash] === wantHash &&
      existing.spec?.replicas === size
    )
      return undefined;
    await ensureKey();
    const update = deepCopy(existing);
    update.metadata!.labels = { ...existing.metadata?.labels, ...desired.metadata!.labels };
    update.metadata!.annotations = { ...existing.metadata?.annotations, [Annotations.specHash]: wantHash! };
    // The pool's size is the chart's: unlike a function's replicas, nobody else scales it.
    update.spec = desired.spec!;
    await this.d.api.replaceDeployment(update);
    this.d.log.info("warm pool updated", { namespace, runtime, size });
    return undefined;
  }
}
