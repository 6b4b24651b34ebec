/**
 * The runtime shim's configuration, read once from the environment the controller writes
 * into the pod template (fail fast, naming the key).
 */
import { UpdraftError } from "../lib/errors.ts";
import { AnnounceEnv, type InstanceAnnouncement, parseAnnouncement } from "../protocol/announce.ts";
import { INSTANCE_CHANNEL_PORT } from "../protocol/instance-channel.ts";
import { INSTANCE_KEY_ENV, INSTANCE_KEY_HEADER } from "../protocol/instance-key.ts";
import { packageFetchPath, STORED_PACKAGE_PREFIX, storedPackageSha } from "../protocol/packages.ts";
import type { ShimConfig } from "./shim.ts";

function num(source: NodeJS.ProcessEnv, key: string, def?: number): number {
  const raw = source[key];
  if (raw === undefined || raw === "") {
    if (def !== undefined) return def;
    throw new UpdraftError("InvalidConfig", `${key} is required`, { permanent: true });
  }
  const n = Number(raw);
  if (!Number.isFinite(n) || n <= 0)
    throw new UpdraftError("InvalidConfig", `${key} must be a positive number, got "${raw}"`);
  return n;
}

/**
 * Where the code package is fetched from: code.url as it is, or — for a package Updraft
 * keeps (updraft:packages/<sha256>) — the activators' package route, with this function's
 * instance key (the activators' address is the one instances announce themselves at).
 * Example: updraft:packages/ab…, announce URL http://updraft-activator.updraft-system.svc:8080/internal/instances,
 * demo/big → http://updraft-activator.updraft-system.svc:8080/v1/namespaces/demo/packages/ab…?function=big.
 */
function codeUrlOf(
  source: NodeJS.ProcessEnv,
  instanceKey: string | undefined,
): { codeUrl?: string; codeHeaders?: Record<string, string> } {
  const url = source.UPDRAFT_CODE_URL;
  if (!url) return {};
  if (!url.startsWith(STORED_PACKAGE_PREFIX)) return { codeUrl: url };
  const sha = storedPackageSha(url);
  const announce = source[AnnounceEnv.url];
  const namespace = source.SCF_NAMESPACE;
  const name = source.SCF_FUNCTIONNAME;
  if (!sha || !announce || !namespace || !name)
    throw new UpdraftError(
      "InvalidConfig",
      `UPDRAFT_CODE_URL ${url} is a kept package: it needs a 64-hex SHA-256, and ${AnnounceEnv.url}, SCF_NAMESPACE and SCF_FUNCTIONNAME set`,
      { permanent: true },
    );
  return {
    codeUrl: `${new URL(announce).origin}${packageFetchPath(namespace, sha, name)}`,
    codeHeaders: instanceKey ? { [INSTANCE_KEY_HEADER]: instanceKey } : {},
  };
}

/** The shim's settings from an environment (the pod's, or a pool instance's merged with a function's). */
export function shimConfigFromEnv(source: NodeJS.ProcessEnv, appDir: string): ShimConfig {
  const env: Record<string, string> = {};
  for (const [k, v] of Object.entries(source)) if (v !== undefined) env[k] = v;
  // The instance's key is the shim's alone: the function's environment does not carry it.
  const instanceKey = source[INSTANCE_KEY_ENV] || undefined;
  delete env[INSTANCE_KEY_ENV];
  const runtime = source.SCF_RUNTIME;
  if (!runtime) throw new UpdraftError("InvalidConfig", "SCF_RUNTIME is required", { permanent: true });
  const type = source.UPDRAFT_FUNCTION_TYPE === "Web" ? "Web" : "Event";
  return {
    runtime,
    handler: source._HANDLER ?? "",
    functionType: type,
    codeDir: source.SCF_USERCODEPATH ?? "/var/user",
    appDir,
    memoryMB: num(source, "SCF_MEMORY_SIZE", 128),
    timeoutMs: num(source, "UPDRAFT_TIMEOUT_MS", 3000),
    initTimeoutMs: num(source, "UPDRAFT_INIT_TIMEOUT_MS", 65_000),
    perInstance: num(source, "UPDRAFT_PER_INSTANCE", 1),
    port: num(source, "UPDRAFT_PORT", 8080),
    channelPort: num(source, "UPDRAFT_CHANNEL_PORT", INSTANCE_CHANNEL_PORT),
    apiBasePort: num(source, "SCF_RUNTIME_API_PORT", 9001),
    ...codeUrlOf(source, instanceKey),
    ...(source.UPDRAFT_CODE_SHA256 ? { codeSha256: source.UPDRAFT_CODE_SHA256 } : {}),
    ...(source.UPDRAFT_CODE_PACKAGE ? { codePackage: source.UPDRAFT_CODE_PACKAGE } : {}),
    provisioned: source.UPDRAFT_PROVISIONED === "true",
    imageFunction: source.UPDRAFT_IMAGE_FUNCTION === "true",
    ...(instanceKey ? { instanceKey } : {}),
    env,
  };
}

/**
 * Where and as what a function pod announces itself, when its template says so (a warm-pool
 * pod, or a shim run outside a pod, has none of these and announces nothing).
 */
export function announceConfigFromEnv(
  source: NodeJS.ProcessEnv,
): { url: string; announcement: InstanceAnnouncement } | undefined {
  const url = source[AnnounceEnv.url];
  if (!url) return undefined;
  const announcement = parseAnnouncement({
    namespace: source[AnnounceEnv.namespace],
    pod: source[AnnounceEnv.pod],
    uid: source[AnnounceEnv.uid],
    ip: source[AnnounceEnv.ip],
  });
  if (!announcement)
    throw new UpdraftError(
      "InvalidConfig",
      `${AnnounceEnv.url} is set, so ${AnnounceEnv.namespace}, ${AnnounceEnv.pod}, ${AnnounceEnv.uid} and ${AnnounceEnv.ip} must be too`,
      { permanent: true },
    );
  return { url, announcement };
}
