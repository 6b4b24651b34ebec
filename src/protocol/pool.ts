/**
 * The warm pool (docs/warm-pool.md): generic, pre-started instances of a runtime in a
 * namespace that asked for them, which the activator turns into a function's instance on
 * that function's first request — far sooner than a new pod starts. This module is what the
 * controller (which keeps the pools), the activator (which claims and specialises) and the
 * runtime shim (which is specialised) agree on.
 */

import type { ResolvedFunctionSpec } from "../api/v1alpha1.ts";
import { STORED_PACKAGE_PREFIX } from "./packages.ts";

/** On a pool's pods and Deployment: the runtime they are warm for, e.g. "nodejs24". */
export const POOL_LABEL = "updraft.dev/pool";
/** On a pool's pods: the memory (MB) they are sized for; only functions of that size use them. */
export const POOL_MEMORY_LABEL = "updraft.dev/pool-memory";
/** The shim's endpoint that makes a pool instance a function's (POST, once). */
export const SPECIALISE_PATH = "/specialise";
/** Set in a pool instance's environment: the shim waits for SPECIALISE_PATH instead of loading code. */
export const POOL_ENV = "UPDRAFT_POOL";

/** The Deployment of a runtime's pool in a namespace: "python3.11" → "updraft-pool-python3-11". */
export function poolDeploymentName(runtime: string): string {
  return `updraft-pool-${runtime.replaceAll(".", "-")}`;
}

/** The body of POST /specialise. */
export interface SpecialiseRequest {
  /**
   * The environment a plain instance of the function gets from its pod template: SCF's
   * variables, the shim's settings (handler, memory, timeouts, perInstance, code URL) and
   * the user's own — the shim reads its configuration from it exactly as it does at start.
   */
  env: Record<string, string>;
  /** Inline code: file name → content, written into the code folder. */
  files?: Record<string, string>;
}

/** The chart's pools: which namespaces have them, how many instances per runtime, of what memory. */
export interface WarmPoolConfig {
  namespaces: string[];
  /** Instances kept warm per runtime; a runtime at 0 or absent has no pool. */
  sizes: Record<string, number>;
  memoryMB: number;
}

/**
 * Why a function cannot take a pool instance, or undefined when it can. A specialised
 * instance must end up as a plain one would be, so everything fixed at a pod's creation has
 * to match the pool's pods already: the namespace (pools are per namespace), the runtime,
 * the memory limit, the ServiceAccount (functions have none of their own: the namespace's
 * default with no token mounted, as pool pods) — and what cannot be handed to a running
 * process without reading secrets or mounting volumes: env from Secrets or ConfigMaps,
 * code from a ConfigMap, an image of the user's. Web functions keep their own server
 * process: not pooled either.
 */
export function poolIneligibility(
  spec: ResolvedFunctionSpec,
  pool: { runtime: string; memoryMB: number },
): string | undefined {
  if (spec.runtime !== pool.runtime) return `runtime ${spec.runtime} has no pool here`;
  if (spec.type !== "Event") return "a Web function runs its own server";
  if (spec.memoryMB !== pool.memoryMB)
    return `memoryMB ${spec.memoryMB} is not the pool's ${pool.memoryMB} (a pod's memory limit is set at its creation)`;
  if (spec.code.image) return "an image function runs the user's image";
  if (spec.code.configMapRef) return "code from a ConfigMap is mounted at the pod's creation";
  if (!spec.code.inline && !spec.code.url) return "no code to hand over";
  // A pool pod has no announce address to reach the activators' package route from.
  if (spec.code.url?.startsWith(STORED_PACKAGE_PREFIX))
    return "a kept package (updraft:packages/…) is fetched by a function's own pods";
  if (spec.concurrency.provisioned > 0) return "provisioned instances are started ahead anyway";
  if (spec.tencentCloud?.credentialsSecret)
    return "tencentCloud.credentialsSecret is read from its Secret only at a pod's creation";
  const fromRef = spec.env.find((e) => e.valueFrom !== undefined);
  if (fromRef)
    return `env ${fromRef.name} comes from a reference (valueFrom), resolved only at a pod's creation`;
  return undefined;
}
