/**
 * The activator's configuration, parsed once at start from the environment the chart sets.
 * A bad value fails fast with the name of its key — before the activator waits for its
 * Secrets or opens a watch, so a typo in the chart shows in the pod's first log line.
 */

import { parseDelays } from "../async/policy.ts";
import {
  type Env,
  envNamespaces,
  envInt as int,
  envPort as port,
  envRequired as required,
  envString as str,
} from "../lib/env.ts";
import { UpdraftError } from "../lib/errors.ts";
import { NAMESPACE_LIST, parseScope, type Scope } from "../lib/kube.ts";
import { SERVICE_ACCOUNT_TOKEN_FILE } from "../lib/token-file.ts";
import { NAMESPACE_DOMAIN_PATTERN } from "../protocol/triggers.ts";

const invalid = (message: string) => new UpdraftError("InvalidConfig", message, { permanent: true });

export interface ActivatorConfig {
  logLevel: string;
  /** Updraft's own namespace: its Secrets, the activators' Service, the leases. */
  namespace: string;
  /** This pod's address (the downward API): its place among the replicas. Empty outside a pod. */
  podIP: string;
  apiPort: number;
  metricsPort: number;
  /** The invoke API also as the API server's aggregated API, on this TLS port (0: not served). */
  aggregatedPort: number;
  autoscalerUrl: string;
  /** The token the autoscaler checks (the ServiceAccount's, re-read as the kubelet rotates it). */
  tokenFile: string;
  /** Who may call the invoke API: Kubernetes tokens, or anyone (None). */
  authMode: "Kubernetes" | "None";
  /** Only these namespaces' Functions and Triggers (the chart's watchNamespaces); undefined: all. */
  scope: Scope;
  /** Set: Http triggers at {namespace}.{domain} instead of /http/{namespace}/…. */
  httpNamespaceDomain: string;
  /** Namespaces with a warm pool, whose pool pods this activator claims. */
  warmPoolNamespaces: string[];
  limits: {
    /** Requests that may wait for one function's instances (then 429). */
    maxWaiting: number;
    /** Requests that may wait for all functions together (then 503). */
    maxWaitingTotal: number;
    /** Request bytes held at once (then 503). */
    maxBufferedBytes: number;
    bodyTimeoutMs: number;
  };
  /** How long a stopping activator keeps serving after its readiness fails (Service rules catching up). */
  drainPropagationMs: number;
  nats: { url: string; user: string; password: string };
  queue: { maxPerFunction: number; maxAgeMs: number; recordTtlMs: number; duplicateWindowMs: number };
  dispatcher: {
    userRetryDelaysMs: number[];
    platformBackoffBaseMs: number;
    platformBackoffMaxMs: number;
    prefetch: number;
  };
  /** Invocation logs kept after their instances stop (maxAgeSeconds 0: not kept). */
  keptLogs: { maxAgeSeconds: number; maxBytes: number; perFunction: number };
  /** Code packages too large for a ConfigMap, in the object store's bucket; undefined: not kept. */
  codeStore:
    | {
        bucket: string;
        endpoint: string;
        region: string;
        accessKey: string;
        secretKey: string;
        maxPackageBytes: number;
      }
    | undefined;
}

export function parseActivatorConfig(env: Env): ActivatorConfig {
  const namespace = str(env, "UPDRAFT_NAMESPACE", "updraft-system", /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/);
  const natsUser = str(env, "UPDRAFT_NATS_USER", "");
  let userRetryDelaysMs: number[];
  try {
    userRetryDelaysMs = parseDelays(str(env, "UPDRAFT_ASYNC_RETRY_DELAYS_SECONDS", "60,120"));
  } catch (err) {
    throw invalid(`UPDRAFT_ASYNC_RETRY_DELAYS_SECONDS: ${String(err)}`);
  }
  const bucket = str(env, "UPDRAFT_CODE_STORE_BUCKET", "", /^([a-z0-9][a-z0-9.-]{1,61}[a-z0-9])?$/);
  return {
    logLevel: str(env, "LOG_LEVEL", "info", /^(error|warn|info|debug)$/),
    namespace,
    podIP: str(env, "POD_IP", ""),
    apiPort: port(env, "UPDRAFT_PORT", 8080),
    metricsPort: port(env, "UPDRAFT_METRICS_PORT", 9090),
    aggregatedPort: int(env, "UPDRAFT_AGGREGATED_PORT", 0, 0, 65_535),
    autoscalerUrl: str(
      env,
      "UPDRAFT_AUTOSCALER_URL",
      `http://updraft-autoscaler.${namespace}.svc:8080`,
      /^https?:\/\/\S+$/,
    ).replace(/\/$/, ""),
    tokenFile: str(env, "UPDRAFT_TOKEN_FILE", SERVICE_ACCOUNT_TOKEN_FILE),
    authMode: str(env, "UPDRAFT_AUTH_MODE", "Kubernetes", /^(Kubernetes|None)$/) as "Kubernetes" | "None",
    scope: parseScope(str(env, "UPDRAFT_WATCH_NAMESPACES", "", NAMESPACE_LIST)),
    httpNamespaceDomain: str(env, "UPDRAFT_HTTP_NAMESPACE_DOMAIN", "", NAMESPACE_DOMAIN_PATTERN),
    warmPoolNamespaces: envNamespaces(env, "UPDRAFT_WARM_POOL_NAMESPACES"),
    limits: {
      maxWaiting: int(env, "UPDRAFT_MAX_WAITING", 10_000, 1, 1_000_000),
      maxWaitingTotal: int(env, "UPDRAFT_MAX_WAITING_TOTAL", 10_000, 1, 1_000_000),
      maxBufferedBytes: int(env, "UPDRAFT_MAX_BUFFERED_BYTES", 128 * 1024 * 1024, 6 * 1024 * 1024, 2 ** 40),
      bodyTimeoutMs: int(env, "UPDRAFT_BODY_TIMEOUT_SECONDS", 30, 1, 3600) * 1000,
    },
    drainPropagationMs: int(env, "UPDRAFT_DRAIN_PROPAGATION_MS", 5000, 0, 60_000),
    nats: {
      url: str(env, "UPDRAFT_NATS_URL", `nats://updraft-nats.${namespace}.svc:4222`, /^nats:\/\/\S+$/),
      user: natsUser,
      // The bundled NATS lets in only its user; an external one may need none.
      password: natsUser ? required(env, "UPDRAFT_NATS_PASSWORD") : "",
    },
    queue: {
      maxPerFunction: int(env, "UPDRAFT_ASYNC_MAX_PER_FUNCTION", 100_000, 1, 10_000_000),
      // SCF's longest event age, 6 h: the stream keeps nothing older.
      maxAgeMs: 6 * 3600_000,
      recordTtlMs: int(env, "UPDRAFT_ASYNC_RECORD_TTL_SECONDS", 86_400, 60, 30 * 86_400) * 1000,
      duplicateWindowMs: 120_000,
    },
    dispatcher: {
      userRetryDelaysMs,
      platformBackoffBaseMs: int(env, "UPDRAFT_ASYNC_BACKOFF_BASE_MS", 1000, 1, 600_000),
      platformBackoffMaxMs: int(env, "UPDRAFT_ASYNC_BACKOFF_MAX_MS", 60_000, 1, 3_600_000),
      prefetch: int(env, "UPDRAFT_ASYNC_PREFETCH", 32, 1, 10_000),
    },
    keptLogs: {
      maxAgeSeconds: int(env, "UPDRAFT_LOG_RETENTION_SECONDS", 86_400, 0, 30 * 86_400),
      maxBytes: int(env, "UPDRAFT_LOG_MAX_BYTES", 256 * 1024 * 1024, 1024 * 1024, 1024 ** 4),
      perFunction: int(env, "UPDRAFT_LOG_PER_FUNCTION", 1000, 1, 1_000_000),
    },
    codeStore: bucket
      ? {
          bucket,
          endpoint:
            str(env, "UPDRAFT_S3_ENDPOINT", "", /^https?:\/\/\S+$/) || required(env, "UPDRAFT_S3_ENDPOINT"),
          region: str(env, "UPDRAFT_S3_REGION", "us-east-1"),
          accessKey: required(env, "UPDRAFT_S3_ACCESS_KEY"),
          secretKey: required(env, "UPDRAFT_S3_SECRET_KEY"),
          maxPackageBytes: int(
            env,
            "UPDRAFT_CODE_STORE_MAX_PACKAGE_BYTES",
            500 * 1024 * 1024,
            1,
            5 * 1024 ** 3,
          ),
        }
      : undefined,
  };
}
