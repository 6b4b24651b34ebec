/**
 * The warm pool's two calls out of the activator (activator/pool.ts decides; these do):
 * POST /specialise to a pool instance, and the adoption of a specialised pod by its
 * function's ReplicaSet through the Kubernetes API.
 */
import {
  type AppsV1Api,
  type CoreV1Api,
  PatchStrategy,
  setHeaderOptions,
  type V1ReplicaSet,
} from "@kubernetes/client-node";
import { Agent } from "undici";
import { Labels, type UpdraftFunction } from "../api/v1alpha1.ts";
import { functionLabels } from "../protocol/function-pod.ts";
import { INSTANCE_KEY_HEADER } from "../protocol/instance-key.ts";
import { POOL_LABEL, POOL_MEMORY_LABEL, SPECIALISE_PATH, type SpecialiseRequest } from "../protocol/pool.ts";
import type { SpecialiseOutcome } from "./pool.ts";

/** Sends POST /specialise to an instance's shim; its answer as an outcome (throws when unreachable). */
export function specialiseOverHttp(
  port: number,
): (ip: string, body: SpecialiseRequest, poolKey?: string) => Promise<SpecialiseOutcome> {
  const agent = new Agent({ keepAliveTimeout: 1000, connections: 4 });
  return async (ip, body, poolKey) => {
    const env = body.env;
    // The shim answers once InitFunction ran: allow the function's init time-out and a margin.
    const timeoutMs = Number(env.UPDRAFT_INIT_TIMEOUT_MS ?? 65_000) + 5000;
    const r = await agent.request({
      origin: `http://${ip}:${port}`,
      path: SPECIALISE_PATH,
      method: "POST",
      headers: { "content-type": "application/json", ...(poolKey ? { [INSTANCE_KEY_HEADER]: poolKey } : {}) },
      body: JSON.stringify(body),
      headersTimeout: timeoutMs,
      bodyTimeout: timeoutMs,
    });
    await r.body.arrayBuffer();
    if (r.statusCode === 200) return "specialised";
    // 409: another activator took it; 400: it does not fit (runtime, memory); 5xx: broken.
    return r.statusCode === 409 || r.statusCode === 400 ? "refused" : "unreachable";
  };
}

/** The ReplicaSet a Deployment is rolled to: the highest revision. */
export function currentReplicaSet(sets: readonly V1ReplicaSet[]): V1ReplicaSet | undefined {
  const revision = (rs: V1ReplicaSet) =>
    Number(rs.metadata?.annotations?.["deployment.kubernetes.io/revision"] ?? 0);
  return [...sets].sort((a, b) => revision(b) - revision(a))[0];
}

const mergePatch = setHeaderOptions("Content-Type", PatchStrategy.MergePatch);

export interface AdoptOptions {
  /** How long to wait for the function's ReplicaSet to want an instance (the activation's scale-up). */
  waitMs: number;
  pollMs: number;
}

/**
 * Moves a specialised pod into its function: the pool's labels off (its pool ReplicaSet
 * releases it and starts a replacement), the function's labels and the pod-template-hash
 * of the function's current ReplicaSet on — which then adopts it as one of its replicas.
 * It waits (bounded) until that ReplicaSet wants at least one pod, the scale-up the cold
 * request set off: adopted by a ReplicaSet at 0, the pod would be deleted at once. If the
 * ReplicaSet has already started a pod of its own, it now has one too many and deletes the
 * least ready — the new one, not the specialised pod that is serving.
 */
export function kubeAdopter(
  core: CoreV1Api,
  apps: AppsV1Api,
  opts: AdoptOptions = { waitMs: 5000, pollMs: 100 },
): (namespace: string, pod: string, fn: UpdraftFunction) => Promise<void> {
  return async (namespace, pod, fn) => {
    const deadline = Date.now() + opts.waitMs;
    let current: V1ReplicaSet | undefined;
    for (;;) {
      const sets = await apps.listNamespacedReplicaSet({
        namespace,
        labelSelector: `${Labels.function}=${fn.metadata.name}`,
      });
      current = currentReplicaSet(sets.items);
      if ((current?.spec?.replicas ?? 0) >= 1 || Date.now() >= deadline) break;
      await new Promise((r) => setTimeout(r, opts.pollMs));
    }
    const labels: Record<string, string | null> = {
      [POOL_LABEL]: null,
      [POOL_MEMORY_LABEL]: null,
      ...functionLabels(fn),
    };
    const hash = current?.metadata?.labels?.["pod-template-hash"];
    if (hash) labels["pod-template-hash"] = hash;
    await core.patchNamespacedPod({ name: pod, namespace, body: { metadata: { labels } } }, mergePatch);
  };
}
