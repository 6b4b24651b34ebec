/**
 * The controller's configuration, parsed once at start from the environment. A bad value
 * fails fast with the name of the key.
 */
import { hostname } from "node:os";
import { RUNTIMES } from "../api/v1alpha1.ts";
import { envBool as bool, type Env, envNamespaces, envInt as int, envString as str } from "../lib/env.ts";
import { UpdraftError } from "../lib/errors.ts";
import { NAMESPACE_LIST, parseScope, type Scope } from "../lib/kube.ts";
import type { WarmPoolConfig } from "../protocol/pool.ts";
import { NAMESPACE_DOMAIN_PATTERN } from "../protocol/triggers.ts";

export interface ControllerConfig {
  logLevel: string;
  metricsPort: number;
  workers: number;
  resyncSeconds: number;
  leaderElect: boolean;
  leaseNamespace: string;
  leaseName: string;
  identity: string;
  runtimeImagePrefix: string;
  runtimeImageTag: string;
  activatorUrl: string;
  /** Set: Http Triggers are served at {namespace}.{domain} (the chart's http.namespaceDomain). */
  httpNamespaceDomain: string;
  httpNamespaceScheme: string;
  /** The namespaces served (the chart's watchNamespaces); undefined: every one. */
  scope: Scope;
  /** Keep a NetworkPolicy in each namespace with instances (the chart's networkPolicy.enabled). */
  networkPolicies: boolean;
  /** The control-plane image, which trigger adapters run. */
  adapterImage: string;
  adapterImagePullPolicy: string;
  adapterClusterRole: string;
  adapterLogLevel: string;
  storageEventsUrl: string;
  storeEndpoint: string;
  /** The invoke API is served as an aggregated API (the chart's aggregatedApi.enabled): its TLS is made here. */
  aggregatedApi: boolean;
  /** The activators keep code packages (the chart's codeStore.enabled). */
  codeStore: boolean;
  /** Warm pools: per namespace, per runtime (docs/warm-pool.md). */
  warmPool: WarmPoolConfig;
}

/**
 * The chart's warm pools from three keys: UPDRAFT_WARM_POOL_NAMESPACES ("team-a,team-b"),
 * UPDRAFT_WARM_POOL_SIZES ("nodejs24=2,python3.11=1"; 0 or absent: no pool) and
 * UPDRAFT_WARM_POOL_MEMORY_MB (the functions' memoryMB the pools serve, 128).
 */
export function parseWarmPool(env: Env): WarmPoolConfig {
  const namespaces = envNamespaces(env, "UPDRAFT_WARM_POOL_NAMESPACES");
  const sizes: Record<string, number> = {};
  for (const part of str(env, "UPDRAFT_WARM_POOL_SIZES", "").split(",")) {
    if (part.trim() === "") continue;
    const m = /^\s*([a-z0-9.]+)\s*=\s*(\d+)\s*$/.exec(part);
    if (!m || !(RUNTIMES as readonly string[]).includes(m[1]!) || Number(m[2]) > 50)
      throw new UpdraftError(
        "InvalidConfig",
        `UPDRAFT_WARM_POOL_SIZES: "${part}" is not runtime=size with a known runtime and size 0-50`,
        { permanent: true },
      );
    sizes[m[1]!] = Number(m[2]);
  }
  return { namespaces, sizes, memoryMB: int(env, "UPDRAFT_WARM_POOL_MEMORY_MB", 128, 64, 3072) };
}

export function parseControllerConfig(env: Env): ControllerConfig {
  return {
    logLevel: str(env, "LOG_LEVEL", "info", /^(error|warn|info|debug)$/),
    metricsPort: int(env, "UPDRAFT_METRICS_PORT", 9090, 0, 65535),
    workers: int(env, "UPDRAFT_WORKERS", 4, 1, 64),
    resyncSeconds: int(env, "UPDRAFT_RESYNC_SECONDS", 300, 1, 86400),
    leaderElect: bool(env, "UPDRAFT_LEADER_ELECT", true),
    leaseNamespace: str(env, "UPDRAFT_NAMESPACE", "updraft-system", /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/),
    leaseName: str(env, "UPDRAFT_LEASE_NAME", "updraft-controller", /^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$/),
    identity: str(env, "POD_NAME", `${hostname()}-${process.pid}`),
    runtimeImagePrefix: str(env, "UPDRAFT_RUNTIME_IMAGE_PREFIX", "updraft/runtime-"),
    runtimeImageTag: str(env, "UPDRAFT_RUNTIME_IMAGE_TAG", "0.1.0", /^[A-Za-z0-9_.-]+$/),
    activatorUrl: str(
      env,
      "UPDRAFT_ACTIVATOR_URL",
      "http://updraft-activator.updraft-system.svc:8080",
      /^https?:\/\//,
    ),
    httpNamespaceDomain: str(env, "UPDRAFT_HTTP_NAMESPACE_DOMAIN", "", NAMESPACE_DOMAIN_PATTERN),
    networkPolicies: bool(env, "UPDRAFT_NETWORK_POLICIES", false),
    scope: parseScope(str(env, "UPDRAFT_WATCH_NAMESPACES", "", NAMESPACE_LIST)),
    httpNamespaceScheme: str(env, "UPDRAFT_HTTP_NAMESPACE_SCHEME", "http", /^https?$/),
    adapterImage: str(env, "UPDRAFT_ADAPTER_IMAGE", "updraft/controller:0.1.0", /^[^\s]+$/),
    adapterImagePullPolicy: str(
      env,
      "UPDRAFT_ADAPTER_IMAGE_PULL_POLICY",
      "IfNotPresent",
      /^(Always|IfNotPresent|Never)$/,
    ),
    adapterClusterRole: str(
      env,
      "UPDRAFT_ADAPTER_CLUSTER_ROLE",
      "updraft-trigger-adapter",
      /^[a-z0-9]([-a-z0-9.:]*[a-z0-9])?$/,
    ),
    adapterLogLevel: str(env, "UPDRAFT_ADAPTER_LOG_LEVEL", "info", /^(error|warn|info|debug)$/),
    storageEventsUrl: str(env, "UPDRAFT_STORAGE_EVENTS_URL", "", /^(https?:\/\/\S+)?$/),
    storeEndpoint: str(env, "UPDRAFT_S3_ENDPOINT", "", /^(https?:\/\/\S+)?$/),
    codeStore: bool(env, "UPDRAFT_CODE_STORE", false),
    aggregatedApi: bool(env, "UPDRAFT_AGGREGATED_API", false),
    warmPool: parseWarmPool(env),
  };
}
