/**
 * What makes a function's instance that function, shared by the controller (which writes
 * it into the Deployment's pod template) and the activator (which hands the same to a
 * warm-pool instance it specialises): the pods' labels and the environment of the shim.
 */
import { isIP } from "node:net";
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
    { name: "UPDRAFT_FUNCTION_TYPE", value: spec.type },
    { name: "UPDRAFT_TIMEOUT_MS", value: String(spec.timeoutSeconds * 1000) },
    { name: "UPDRAFT_INIT_TIMEOUT_MS", value: String(spec.initTimeoutSeconds * 1000) },
    { name: "UPDRAFT_PER_INSTANCE", value: String(spec.concurrency.perInstance) },
    { name: "UPDRAFT_CODE_SHA256", value: sha },
    { name: "UPDRAFT_PROVISIONED", value: String(spec.concurrency.provisioned > 0) },
  ];
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

/**
 * A function pod's shim announces itself to the activators once it is ready (POST here on
 * the activator's API), so a request waiting for a cold start reaches it at once instead of
 * after the kubelet's next status report — which waits for its 1 s container relist — and
 * the EndpointSlice update behind it (docs/data-path.md, "Instances announce themselves").
 */
export const INSTANCE_ANNOUNCE_PATH = "/internal/instances";

/** What an instance says of itself: the pod (its UID is the proof) and its address. */
export interface InstanceAnnouncement {
  namespace: string;
  pod: string;
  uid: string;
  ip: string;
}

/** The environment that lets a function pod's shim announce itself. */
export const AnnounceEnv = {
  url: "UPDRAFT_ANNOUNCE_URL",
  namespace: "UPDRAFT_POD_NAMESPACE",
  pod: "UPDRAFT_POD_NAME",
  uid: "UPDRAFT_POD_UID",
  ip: "UPDRAFT_POD_IP",
} as const;

/**
 * The pod template's part of it: the activator's URL, and the pod's own name, UID and
 * address from the downward API (the kubelet fills status.podIP from the sandbox it just
 * made, before any status of the pod reaches the API server).
 */
export function announceEnv(activatorUrl: string): V1EnvVar[] {
  const field = (fieldPath: string) => ({ fieldRef: { fieldPath } });
  return [
    { name: AnnounceEnv.url, value: `${activatorUrl.replace(/\/+$/, "")}${INSTANCE_ANNOUNCE_PATH}` },
    { name: AnnounceEnv.namespace, valueFrom: field("metadata.namespace") },
    { name: AnnounceEnv.pod, valueFrom: field("metadata.name") },
    { name: AnnounceEnv.uid, valueFrom: field("metadata.uid") },
    { name: AnnounceEnv.ip, valueFrom: field("status.podIP") },
  ];
}

const DNS_LABEL = /^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/;
const DNS_SUBDOMAIN = /^[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?$/;
const UID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

/** An announcement as sent, or undefined when any part of it is missing or malformed. */
export function parseAnnouncement(v: unknown): InstanceAnnouncement | undefined {
  if (typeof v !== "object" || v === null) return undefined;
  const { namespace, pod, uid, ip } = v as Record<string, unknown>;
  if (typeof namespace !== "string" || !DNS_LABEL.test(namespace)) return undefined;
  if (typeof pod !== "string" || !DNS_SUBDOMAIN.test(pod)) return undefined;
  if (typeof uid !== "string" || !UID.test(uid)) return undefined;
  if (typeof ip !== "string" || isIP(ip) === 0) return undefined;
  return { namespace, pod, uid, ip };
}
