/**
 * What makes a function's instance that function, shared by the controller (which writes
 * it into the Deployment's pod template) and the activator (which hands the same to a
 * warm-pool instance it specialises): the pods' labels and the environment of the shim.
 */
import type { V1EnvVar } from "@kubernetes/client-node";
import { Labels, type ResolvedFunctionSpec, type UpdraftFunction } from "../api/v1alpha1.ts";
import { canonicalJson, sha256Hex } from "../lib/hash.ts";

/** Where a function's code is, in every instance. */
export const USER_CODE_DIR = "/var/user";

export function functionLabels(fn: UpdraftFunction): Record<string, string> {
  return {
    [Labels.function]: fn.metadata.name!,
    [Labels.name]: fn.metadata.name!,
    [Labels.component]: "function",
    [Labels.managedBy]: "updraft",
    [Labels.partOf]: "updraft",
  };
}

/** Where a ConfigMap-held package (configMapRef.key) is mounted, read-only, for the shim to unpack. */
export const CODE_PACKAGE_DIR = "/var/package";
export const CODE_PACKAGE_FILE = `${CODE_PACKAGE_DIR}/package`;

/**
 * SCF's account and role variables from spec.tencentCloud, each only when given (SCF's
 * runtimes read a missing one as empty). The credentials come from the Secret by reference,
 * so their values are in no object but the Secret; sessionToken may be absent (long-lived
 * keys have none). Example: {region: "ap-guangzhou", credentialsSecret: "cos"} →
 * TENCENTCLOUD_REGION=ap-guangzhou, TENCENTCLOUD_SECRETID from cos/secretId, …SECRETKEY from
 * cos/secretKey, …SESSIONTOKEN from cos/sessionToken if there.
 */
export function tencentCloudEnv(spec: ResolvedFunctionSpec): V1EnvVar[] {
  const tc = spec.tencentCloud ?? {};
  const env: V1EnvVar[] = [];
  if (tc.region) env.push({ name: "TENCENTCLOUD_REGION", value: tc.region });
  if (tc.appId) env.push({ name: "TENCENTCLOUD_APPID", value: tc.appId });
  if (tc.uin) env.push({ name: "TENCENTCLOUD_UIN", value: tc.uin });
  const secret = tc.credentialsSecret;
  if (secret)
    env.push(
      { name: "TENCENTCLOUD_SECRETID", valueFrom: { secretKeyRef: { name: secret, key: "secretId" } } },
      { name: "TENCENTCLOUD_SECRETKEY", valueFrom: { secretKeyRef: { name: secret, key: "secretKey" } } },
      {
        name: "TENCENTCLOUD_SESSIONTOKEN",
        valueFrom: { secretKeyRef: { name: secret, key: "sessionToken", optional: true } },
      },
    );
  return env;
}

/** Environment SCF gives a function (docs/resources.md), then the shim's settings, then the user's. */
export function functionEnv(fn: UpdraftFunction, spec: ResolvedFunctionSpec, sha: string): V1EnvVar[] {
  const env: V1EnvVar[] = [
    { name: "SCF_FUNCTIONNAME", value: fn.metadata.name! },
    { name: "SCF_FUNCTIONVERSION", value: "$LATEST" },
    { name: "SCF_NAMESPACE", value: fn.metadata.namespace! },
    { name: "SCF_RUNTIME", value: spec.runtime },
    { name: "SCF_MEMORY_SIZE", value: String(spec.memoryMB) },
    { name: "SCF_TIMEOUT", value: String(spec.timeoutSeconds) },
    { name: "SCF_RUNTIME_API", value: "127.0.0.1" },
    { name: "SCF_RUNTIME_API_PORT", value: "9001" },
    { name: "SCF_USERCODEPATH", value: USER_CODE_DIR },
    { name: "USER_CODE_ROOT", value: `${USER_CODE_DIR}/` },
    { name: "TENCENTCLOUD_RUNENV", value: "SCF" },
    // SCF runs functions as the user qcloud, and SCF apps test USER to know where they run
    // (OneManager, among SCF's samples: `$_SERVER['USER']==='qcloud'` picks its SCF
    // platform code). The process's uid is ours (10001); only the name is SCF's.
    ...(spec.env.some((e) => e.name === "USER") ? [] : [{ name: "USER", value: "qcloud" }]),
    { name: "UPDRAFT_FUNCTION_TYPE", value: spec.type },
    { name: "UPDRAFT_TIMEOUT_MS", value: String(spec.timeoutSeconds * 1000) },
    { name: "UPDRAFT_INIT_TIMEOUT_MS", value: String(spec.initTimeoutSeconds * 1000) },
    { name: "UPDRAFT_PER_INSTANCE", value: String(spec.concurrency.perInstance) },
    { name: "UPDRAFT_CODE_SHA256", value: sha },
    { name: "UPDRAFT_PROVISIONED", value: String(spec.concurrency.provisioned > 0) },
  ];
  env.push(...tencentCloudEnv(spec));
  if (spec.handler) env.push({ name: "_HANDLER", value: spec.handler });
  if (spec.code.url) env.push({ name: "UPDRAFT_CODE_URL", value: spec.code.url });
  if (spec.code.configMapRef?.key) env.push({ name: "UPDRAFT_CODE_PACKAGE", value: CODE_PACKAGE_FILE });
  return [...env, ...spec.env];
}

/**
 * SHA-256 of the code: the package's own hash for url, the canonical JSON of the files
 * for inline and ConfigMap code, the image reference for image code.
 */
export function codeSha256(
  fn: UpdraftFunction,
  configMap?: { data?: Record<string, string>; binaryData?: Record<string, string> },
): string {
  const code = fn.spec.code;
  if (code.url) return code.sha256 ?? "";
  if (code.inline) return sha256Hex(canonicalJson(code.inline));
  if (code.configMapRef) {
    // Either half changing rolls the pods: binary files and packages live in binaryData.
    const { data = {}, binaryData = {} } = configMap ?? {};
    const key = code.configMapRef.key;
    if (key)
      return sha256Hex(key in binaryData ? Buffer.from(binaryData[key]!, "base64") : (data[key] ?? ""));
    return sha256Hex(canonicalJson({ data, binaryData }));
  }
  return sha256Hex(code.image ?? "");
}
