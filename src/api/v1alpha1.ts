/**
 * Types of the updraft.dev/v1alpha1 resources (crds/ holds the schemas the apiserver
 * enforces) and the defaults the schemas apply, so code that reads an object never
 * guesses at a missing field.
 */
import type { V1EnvVar, V1ObjectMeta } from "@kubernetes/client-node";
import type { Condition } from "../lib/conditions.ts";

export const GROUP = "updraft.dev";
export const VERSION = "v1alpha1";
export const API_VERSION = `${GROUP}/${VERSION}`;
export const FUNCTIONS = "functions";
export const TRIGGERS = "triggers";

/** The runtimes that have an image (runtimes/Dockerfile.<runtime>); the CRD's enum. */
export const RUNTIMES = [
  "nodejs24",
  "nodejs22",
  "python3.11",
  "php8.2",
  "go1",
  "java17",
  "java21",
  "custom",
] as const;
export type Runtime = (typeof RUNTIMES)[number];

export interface FunctionCode {
  inline?: Record<string, string>;
  url?: string;
  sha256?: string;
  configMapRef?: { name: string; key?: string };
  image?: string;
}

/**
 * What SCF sets from the function's account and execution role, which a cluster has no
 * source for: given here, they reach the function as SCF's variables (TENCENTCLOUD_REGION,
 * _APPID, _UIN; the Secret's secretId, secretKey and sessionToken as TENCENTCLOUD_SECRETID,
 * _SECRETKEY, _SESSIONTOKEN) and the context's tencentcloud_* fields.
 */
export interface TencentCloudSettings {
  region?: string;
  appId?: string;
  uin?: string;
  credentialsSecret?: string;
}

export interface FunctionSpec {
  runtime: Runtime;
  type?: "Event" | "Web";
  handler?: string;
  code: FunctionCode;
  memoryMB?: number;
  timeoutSeconds?: number;
  initTimeoutSeconds?: number;
  env?: V1EnvVar[];
  tencentCloud?: TencentCloudSettings;
  concurrency?: { perInstance?: number; max?: number; provisioned?: number };
  scaling?: {
    minInstances?: number;
    maxInstances?: number;
    scaleToZeroAfterSeconds?: number;
    targetUtilization?: number;
  };
  async?: {
    retryAttempts?: number;
    maxEventAgeSeconds?: number;
    deadLetter?: { function?: string; subject?: string };
  };
}

export interface FunctionStatus {
  observedGeneration?: number;
  conditions?: Condition[];
  url?: string;
  replicas?: number;
  readyReplicas?: number;
  codeSha256?: string;
  deploymentName?: string;
}

export interface UpdraftFunction {
  apiVersion: typeof API_VERSION;
  kind: "Function";
  metadata: V1ObjectMeta;
  spec: FunctionSpec;
  status?: FunctionStatus;
}

/**
 * spec.code.inline's bounds: at most 32 files (plain names) of 256 KiB each (the CRD's), and
 * 1,000,000 bytes in all — what the ConfigMap the controller keeps them in can hold (the
 * API server's CEL budget cannot sum the files, so the controller checks that one).
 */
export const INLINE_MAX_FILES = 32;
export const INLINE_MAX_FILE_BYTES = 262_144;
export const INLINE_CODE_LIMIT_BYTES = 1_000_000;
export const INLINE_FILE_NAME = /^[A-Za-z0-9_.-]+$/;
/** A ConfigMap's binaryData package: what one object may hold, less room for its metadata. */
export const CONFIGMAP_PACKAGE_LIMIT_BYTES = 1_000_000;

/**
 * Reasons a Function reports when no instance of it can start until someone acts — its
 * ConfigMap made, its code made smaller, a Deployment of its name moved away. Calls are then
 * refused at once (FunctionNotReady, with the reason) instead of waiting out the cold-start
 * time for an instance that cannot come.
 */
export const UNSERVABLE_REASONS: ReadonlySet<string> = new Set([
  "ConfigMapNotFound",
  "ConfigMapKeyNotFound",
  "InlineCodeTooLarge",
  "NotOwned",
  "CodeStoreNotConfigured",
  // InstancesHealthy: the kubelet cannot make the container until a Secret or ConfigMap it
  // reads exists, or its image can be pulled. The controller says False only once the
  // kubelet's retries have had 30 s (instancesVerdict): some of these pass by themselves.
  // (A crash loop is not here: it may pass.)
  "CreateContainerConfigError",
  "ErrImageNeverPull",
  "ErrImagePull",
  "ImagePullBackOff",
  "InvalidImageName",
  // InstancesHealthy: the shim's own coded reason for exiting at start (its package cannot
  // be downloaded, does not match its sha256, is not a package; its configuration is
  // refused): every restart fails the same way until the Function or the package changes.
  "CodeDownloadFailed",
  "CodeChecksumMismatch",
  "CodePackageInvalid",
  "InvalidConfig",
]);

/**
 * Why no instance of `fn` can start, from a status written for its current spec (one for an
 * older generation says nothing about the spec just applied); undefined when one can.
 */
export function unservable(fn: UpdraftFunction): { reason: string; message: string } | undefined {
  const status = fn.status;
  if (!status || status.observedGeneration !== fn.metadata.generation) return undefined;
  for (const c of status.conditions ?? []) {
    if (
      (c.type === "CodeReady" || c.type === "DeploymentReady" || c.type === "InstancesHealthy") &&
      c.status === "False" &&
      c.reason &&
      UNSERVABLE_REASONS.has(c.reason)
    )
      return { reason: c.reason, message: c.message ?? "" };
  }
  return undefined;
}

/**
 * What the Function's status says about its instances when they are not healthy, for its
 * current spec: InstancesHealthy Unknown (a failure the kubelet is retrying) or False, with
 * the kubelet's reason. A call that waited out its cold start is told this, so a 503
 * NoInstanceReady names the cause (a package that is not there, a crash at start).
 */
export function instancesTrouble(
  fn: UpdraftFunction,
): { status: string; reason: string; message: string } | undefined {
  const status = fn.status;
  if (!status || status.observedGeneration !== fn.metadata.generation) return undefined;
  const c = (status.conditions ?? []).find((c) => c.type === "InstancesHealthy");
  if (!c || c.status === "True" || !c.reason) return undefined;
  return { status: c.status, reason: c.reason, message: c.message ?? "" };
}

export const TRIGGER_TYPES = ["Timer", "Http", "Kafka", "Queue", "ObjectStorage"] as const;
export type TriggerType = (typeof TRIGGER_TYPES)[number];

export interface TriggerSpec {
  function: string;
  type: TriggerType;
  enabled?: boolean;
  invocation?: "Sync" | "Async";
  timer?: { cronExpression: string; message?: string; timezone?: string; startingDeadlineSeconds?: number };
  http?: {
    path: string;
    methods?: string[];
    integratedResponse?: boolean;
    /** Who may call: anyone (None, the default — SCF's API gateway without auth) or holders of a Kubernetes token with `invoke`. */
    auth?: "None" | "Kubernetes";
  };
  kafka?: {
    brokers: string[];
    topic: string;
    consumerGroup?: string;
    startingOffset?: "latest" | "earliest";
    batchSize?: number;
    maxRetries?: number;
    credentialsSecret?: string;
  };
  queue?: {
    protocol: "NATS" | "AMQP";
    url: string;
    topic: string;
    credentialsSecret?: string;
    filterTags?: string[];
  };
  objectStorage?: {
    bucket: string;
    events: string[];
    prefix?: string;
    suffix?: string;
  };
}

export interface TriggerStatus {
  observedGeneration?: number;
  conditions?: Condition[];
  lastFireTime?: string;
  firedCount?: number;
  failedCount?: number;
  url?: string;
}

export interface UpdraftTrigger {
  apiVersion: typeof API_VERSION;
  kind: "Trigger";
  metadata: V1ObjectMeta;
  spec: TriggerSpec;
  status?: TriggerStatus;
}

/** A FunctionSpec with every defaulted field filled, as the CRD schema defaults them. */
export interface ResolvedFunctionSpec extends FunctionSpec {
  type: "Event" | "Web";
  memoryMB: number;
  timeoutSeconds: number;
  initTimeoutSeconds: number;
  env: V1EnvVar[];
  concurrency: { perInstance: number; max?: number; provisioned: number };
  scaling: {
    minInstances: number;
    maxInstances?: number;
    scaleToZeroAfterSeconds: number;
    targetUtilization: number;
  };
  async: {
    retryAttempts: number;
    maxEventAgeSeconds: number;
    deadLetter?: { function?: string; subject?: string };
  };
}

export function resolveFunctionSpec(spec: FunctionSpec): ResolvedFunctionSpec {
  return {
    ...spec,
    type: spec.type ?? "Event",
    memoryMB: spec.memoryMB ?? 128,
    timeoutSeconds: spec.timeoutSeconds ?? 3,
    initTimeoutSeconds: spec.initTimeoutSeconds ?? 65,
    env: spec.env ?? [],
    concurrency: {
      ...spec.concurrency,
      perInstance: spec.concurrency?.perInstance ?? 1,
      provisioned: spec.concurrency?.provisioned ?? 0,
    },
    scaling: {
      ...spec.scaling,
      minInstances: spec.scaling?.minInstances ?? 0,
      scaleToZeroAfterSeconds: spec.scaling?.scaleToZeroAfterSeconds ?? 30,
      targetUtilization: spec.scaling?.targetUtilization ?? 0.7,
    },
    async: {
      ...spec.async,
      retryAttempts: spec.async?.retryAttempts ?? 2,
      maxEventAgeSeconds: spec.async?.maxEventAgeSeconds ?? 21600,
    },
  };
}

/** Invocation mode of a trigger: its own setting, else SCF's default for its type. */
export function triggerInvocation(spec: TriggerSpec): "Sync" | "Async" {
  if (spec.invocation) return spec.invocation;
  return spec.type === "Http" || spec.type === "Kafka" ? "Sync" : "Async";
}

// Condition types.
export const FunctionConditions = {
  Ready: "Ready",
  CodeReady: "CodeReady",
  DeploymentReady: "DeploymentReady",
  /** No instance is failing to start (a missing Secret, a wrong image, a crash at start). */
  InstancesHealthy: "InstancesHealthy",
  Active: "Active",
} as const;

export const TriggerConditions = {
  Ready: "Ready",
  FunctionFound: "FunctionFound",
  /** The adapter Deployment is available (non-Http triggers). */
  AdapterReady: "AdapterReady",
  /** The adapter reaches its source: broker, bucket (written by the adapter). */
  SourceReady: "SourceReady",
} as const;

/** The conditions Ready summarises, by trigger type: Http triggers have no adapter. */
export function triggerReadyDependents(type: TriggerType): string[] {
  return type === "Http"
    ? [TriggerConditions.FunctionFound]
    : [TriggerConditions.FunctionFound, TriggerConditions.AdapterReady, TriggerConditions.SourceReady];
}

// Labels and annotations put on children.
export const Labels = {
  function: "updraft.dev/function",
  trigger: "updraft.dev/trigger",
  component: "app.kubernetes.io/component",
  managedBy: "app.kubernetes.io/managed-by",
  name: "app.kubernetes.io/name",
  partOf: "app.kubernetes.io/part-of",
  /** On a package's ConfigMap that `updraft deploy` made: the Function it holds the code of. */
  packageOf: "updraft.dev/package-of",
  /** On a Trigger that `updraft deploy` applied: the Function it came with. */
  deployedWith: "updraft.dev/deployed-with",
} as const;

export const Annotations = {
  specHash: "updraft.dev/spec-hash",
  codeSha256: "updraft.dev/code-sha256",
  /** A short hash of the key the pods take calls with: a new key rolls them. */
  instanceKeyHash: "updraft.dev/instance-key-hash",
} as const;
