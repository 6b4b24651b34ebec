/**
 * The controller's configuration, parsed once at start from the environment. A bad value
 * fails fast with the name of the key.
 */
import { hostname } from "node:os";
import { UpdraftError } from "../lib/errors.ts";

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
}

type Env = Record<string, string | undefined>;

function int(env: Env, key: string, def: number, min: number, max: number): number {
  const raw = env[key];
  if (raw === undefined || raw === "") return def;
  const n = Number(raw);
  if (!Number.isInteger(n) || n < min || n > max) {
    throw new UpdraftError("InvalidConfig", `${key} must be an integer in [${min}, ${max}], got "${raw}"`, {
      permanent: true,
    });
  }
  return n;
}

function bool(env: Env, key: string, def: boolean): boolean {
  const raw = env[key];
  if (raw === undefined || raw === "") return def;
  if (raw === "true") return true;
  if (raw === "false") return false;
  throw new UpdraftError("InvalidConfig", `${key} must be true or false, got "${raw}"`, { permanent: true });
}

function str(env: Env, key: string, def: string, pattern?: RegExp): string {
  const raw = env[key];
  const value = raw === undefined || raw === "" ? def : raw;
  if (pattern && !pattern.test(value)) {
    throw new UpdraftError("InvalidConfig", `${key} is not valid: "${value}"`, { permanent: true });
  }
  return value;
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
  };
}
