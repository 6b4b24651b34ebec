/**
 * An adapter's configuration, parsed once at start from the environment its Deployment
 * sets (makeAdapterDeployment). A bad value fails fast with the name of the key.
 */

import { type Env, envInt as int, envRequired as required, envString as str } from "../lib/env.ts";
import { SERVICE_ACCOUNT_TOKEN_FILE } from "../lib/token-file.ts";

export interface AdapterConfig {
  logLevel: string;
  port: number;
  namespace: string;
  trigger: string;
  activatorUrl: string;
  /** Longest a sync invocation may take: the function's init and run time-outs, and slack. */
  invokeTimeoutMs: number;
  statusIntervalMs: number;
  storageEventsUrl: string;
  storeEndpoint: string;
  credentials: { username?: string; password?: string };
  /** The adapter's ServiceAccount token, for the invoke API. */
  tokenFile: string;
}

export function parseAdapterConfig(env: Env): AdapterConfig {
  const username = env.UPDRAFT_SOURCE_USERNAME;
  const password = env.UPDRAFT_SOURCE_PASSWORD;
  return {
    logLevel: str(env, "LOG_LEVEL", "info", /^(error|warn|info|debug)$/),
    port: int(env, "UPDRAFT_PORT", 8080, 1, 65535),
    namespace: required(env, "UPDRAFT_TRIGGER_NAMESPACE"),
    trigger: required(env, "UPDRAFT_TRIGGER_NAME"),
    activatorUrl: str(
      env,
      "UPDRAFT_ACTIVATOR_URL",
      "http://updraft-activator.updraft-system.svc:8080",
      /^https?:\/\//,
    ),
    invokeTimeoutMs: int(env, "UPDRAFT_INVOKE_TIMEOUT_MS", 120_000, 1_000, 3_600_000),
    statusIntervalMs: int(env, "UPDRAFT_STATUS_INTERVAL_MS", 5_000, 500, 600_000),
    storageEventsUrl: str(env, "UPDRAFT_STORAGE_EVENTS_URL", "", /^(https?:\/\/.*)?$/),
    storeEndpoint: str(env, "UPDRAFT_S3_ENDPOINT", "", /^(https?:\/\/.*)?$/),
    tokenFile: str(env, "UPDRAFT_TOKEN_FILE", SERVICE_ACCOUNT_TOKEN_FILE),
    credentials: {
      ...(username ? { username } : {}),
      ...(password ? { password } : {}),
    },
  };
}
