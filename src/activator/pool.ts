/**
 * The activator's side of the warm pool (docs/warm-pool.md): on a function's first request,
 * when it has no instance, take a generic instance of its runtime from the pool of its
 * namespace, specialise it (POST /specialise with the environment and files a plain pod of
 * the function would have), and send the waiting requests there at once; then move the pod
 * into the function (adopt): it loses the pool's label — its ReplicaSet lets it go and
 * starts a replacement — and gets the function's labels and the pod-template-hash of the
 * function's current ReplicaSet, which adopts it as one of the function's replicas. From
 * then on it is scaled, rolled and deleted as any instance of the function; it never goes
 * back to the pool.
 */

import type { V1Pod } from "@kubernetes/client-node";
import type { ResolvedFunctionSpec, UpdraftFunction } from "../api/v1alpha1.ts";
import { codeSha256, functionEnv } from "../protocol/function-pod.ts";
import { INSTANCE_KEY_ENV } from "../protocol/instance-key.ts";
import {
  POOL_LABEL,
  POOL_MEMORY_LABEL,
  poolIneligibility,
  type SpecialiseRequest,
} from "../protocol/pool.ts";

/** What a specialise call came to. */
export type SpecialiseOutcome = "specialised" | "refused" | "unreachable";

export interface WarmPoolDeps {
  /** POST /specialise to an instance, with the pool's instance key when there is one. */
  specialise: (ip: string, body: SpecialiseRequest, poolKey?: string) => Promise<SpecialiseOutcome>;
  /**
   * Instance keys (protocol/instance-key.ts): the pool's opens /specialise, the function's
   * goes in the request's environment and is the only one the instance takes from then on.
   */
  instanceKeys?: { function(namespace: string, name: string): string; pool(namespace: string): string };
  /** Moves a specialised pod into its function (labels; its ReplicaSet adopts it). */
  adopt: (namespace: string, pod: string, fn: UpdraftFunction) => Promise<void>;
  onError: (what: string, err: unknown) => void;
  now?: () => number;
}

/** A pool instance that refused or failed is not tried again for this long. */
const SKIP_MS = 30_000;
/** Pool instances tried per claim before the request waits for a plain cold start. */
const MAX_TRIES = 3;

interface PoolPod {
  name: string;
  namespace: string;
  ip: string;
  runtime: string;
  memoryMB: number;
}

/** A pool pod that can be claimed: labelled, running, ready, with an address, not being deleted. */
export function claimable(p: V1Pod): PoolPod | undefined {
  const runtime = p.metadata?.labels?.[POOL_LABEL];
  const memoryMB = Number(p.metadata?.labels?.[POOL_MEMORY_LABEL]);
  const ip = p.status?.podIP;
  if (!runtime || !Number.isFinite(memoryMB) || !ip || p.metadata?.deletionTimestamp) return undefined;
  if (p.status?.phase !== "Running") return undefined;
  if (!p.status?.conditions?.some((c) => c.type === "Ready" && c.status === "True")) return undefined;
  return { name: p.metadata!.name!, namespace: p.metadata!.namespace!, ip, runtime, memoryMB };
}

/**
 * What a pool instance is told: the environment of the function's pod template (the same
 * builder the controller uses) as plain values, and its inline files. The code hash is the
 * one the controller writes (canonical JSON of the files; the package's for a URL).
 */
export function specialiseRequest(fn: UpdraftFunction, spec: ResolvedFunctionSpec): SpecialiseRequest {
  const sha = codeSha256(fn);
  const env: Record<string, string> = {};
  for (const e of functionEnv(fn, spec, sha)) env[e.name] = e.value ?? "";
  return { env, ...(spec.code.inline ? { files: { ...spec.code.inline } } : {}) };
}

export class WarmPool {
  private readonly deps: WarmPoolDeps;
  private readonly now: () => number;
  /** Pool pods by namespace, from each pool namespace's pod informer. */
  private readonly pods = new Map<string, PoolPod[]>();
  /** Pods claimed or refused (name → until when they are not offered), so none is tried twice. */
  private readonly skip = new Map<string, number>();

  constructor(deps: WarmPoolDeps) {
    this.deps = deps;
    this.now = deps.now ?? Date.now;
  }

  /** A pool namespace's pods, all at once (the informer's list after each change). */
  setPods(namespace: string, pods: readonly V1Pod[]): void {
    this.pods.set(
      namespace,
      pods.map(claimable).filter((p): p is PoolPod => p !== undefined),
    );
    this.prune();
  }

  private candidates(namespace: string, spec: ResolvedFunctionSpec): PoolPod[] {
    const now = this.now();
    return (this.pods.get(namespace) ?? []).filter(
      (p) =>
        (this.skip.get(`${p.namespace}/${p.name}`) ?? 0) <= now &&
        poolIneligibility(spec, { runtime: p.runtime, memoryMB: p.memoryMB }) === undefined,
    );
  }

  /**
   * Takes a pool instance for the function and specialises it: its address, or undefined
   * when the namespace has none that fits (the request then waits for a plain cold start).
   */
  async claim(fn: UpdraftFunction, spec: ResolvedFunctionSpec): Promise<string | undefined> {
    const namespace = fn.metadata.namespace!;
    for (let tries = 0; tries < MAX_TRIES; tries++) {
      const pod = this.candidates(namespace, spec)[0];
      if (!pod) return undefined;
      const id = `${pod.namespace}/${pod.name}`;
      // Never offered again: claimed now, or refused (taken by another activator, or broken).
      this.skip.set(id, this.now() + SKIP_MS);
      let outcome: SpecialiseOutcome;
      try {
        const keys = this.deps.instanceKeys;
        const request = specialiseRequest(fn, spec);
        if (keys) request.env[INSTANCE_KEY_ENV] = keys.function(namespace, fn.metadata.name!);
        outcome = await this.deps.specialise(pod.ip, request, keys?.pool(namespace));
      } catch (err) {
        this.deps.onError(`specialise ${id}`, err);
        continue;
      }
      if (outcome !== "specialised") continue;
      this.skip.set(id, Number.POSITIVE_INFINITY);
      this.deps.adopt(namespace, pod.name, fn).catch((err: unknown) => this.deps.onError(`adopt ${id}`, err));
      return pod.ip;
    }
    return undefined;
  }

  /** Forgets pods no longer in any pool (claimed and adopted, or deleted): they cannot be offered. */
  private prune(): void {
    const live = new Set([...this.pods.values()].flatMap((ps) => ps.map((p) => `${p.namespace}/${p.name}`)));
    for (const id of this.skip.keys()) if (!live.has(id)) this.skip.delete(id);
  }
}
