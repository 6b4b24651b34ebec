/** The node agent's configuration, parsed once at start; a bad value names its key. */
import { resolve } from "node:path";
import { type Env, envInt as int, envRequired as need } from "../lib/env.ts";
import { UpdraftError } from "../lib/errors.ts";

export interface NodeConfig {
  logLevel: string;
  nodeName: string;
  hostIP: string;
  bridge: string;
  podCidr: string;
  apiServiceHost: string;
  apiServicePort: number;
  clusterDomain: string;
  stateDir: string;
  imageTable: string;
  enterScript: string;
  kubeletPort: number;
  tlsCertFile: string;
  tlsKeyFile: string;
  clientCaFile: string;
  leaseRenewSeconds: number;
  statusUpdateSeconds: number;
  restartBackoffBaseMs: number;
  maxPods: number;
  kubeletVersion: string;
}

function ipv4(env: Env, key: string, def?: string): string {
  const v = env[key] ?? def;
  if (!v || !/^(\d{1,3}\.){3}\d{1,3}$/.test(v)) {
    throw new UpdraftError("InvalidConfig", `${key} must be an IPv4 address, got "${v ?? ""}"`, {
      permanent: true,
    });
  }
  return v;
}

export function parseNodeConfig(env: Env, repoRoot: string): NodeConfig {
  const cidr = env.UPDRAFT_POD_CIDR ?? "10.244.0.0/16";
  if (!/^(\d{1,3}\.){3}\d{1,3}\/(\d|[12]\d|3[0-2])$/.test(cidr)) {
    throw new UpdraftError("InvalidConfig", `UPDRAFT_POD_CIDR must be a CIDR, got "${cidr}"`, {
      permanent: true,
    });
  }
  return {
    logLevel: env.LOG_LEVEL ?? "info",
    nodeName: env.UPDRAFT_NODE_NAME ?? "updraft-local",
    hostIP: ipv4(env, "UPDRAFT_NODE_IP", "10.244.0.1"),
    bridge: env.UPDRAFT_BRIDGE ?? "updraft0",
    podCidr: cidr,
    apiServiceHost: ipv4(env, "UPDRAFT_API_SERVICE_HOST", "10.96.0.1"),
    apiServicePort: int(env, "UPDRAFT_API_SERVICE_PORT", 443, 1, 65535),
    clusterDomain: env.UPDRAFT_CLUSTER_DOMAIN ?? "cluster.local",
    stateDir: env.UPDRAFT_NODE_STATE_DIR ?? "/run/updraft-node",
    imageTable: env.UPDRAFT_IMAGE_TABLE ?? resolve(repoRoot, "hack/node-images.yaml"),
    enterScript: resolve(repoRoot, "src/node/enter.sh"),
    kubeletPort: int(env, "UPDRAFT_KUBELET_PORT", 10250, 1, 65535),
    tlsCertFile: need(env, "UPDRAFT_KUBELET_TLS_CERT"),
    tlsKeyFile: need(env, "UPDRAFT_KUBELET_TLS_KEY"),
    clientCaFile: need(env, "UPDRAFT_CLIENT_CA"),
    leaseRenewSeconds: int(env, "UPDRAFT_LEASE_RENEW_SECONDS", 10, 1, 40),
    statusUpdateSeconds: int(env, "UPDRAFT_NODE_STATUS_SECONDS", 10, 1, 300),
    restartBackoffBaseMs: int(env, "UPDRAFT_RESTART_BACKOFF_MS", 10_000, 100, 300_000),
    maxPods: int(env, "UPDRAFT_MAX_PODS", 250, 1, 10000),
    kubeletVersion: env.UPDRAFT_KUBELET_VERSION ?? "v1.34.4",
  };
}
