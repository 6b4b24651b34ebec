/**
 * Pure builders of a Function's children: the code ConfigMap, the Deployment and the
 * Service. The reconciler compares what these return with what exists and writes only the
 * difference; everything here is a function of (Function, config) and has table tests.
 */

import type {
  V1ConfigMap,
  V1Container,
  V1Deployment,
  V1EnvVar,
  V1OwnerReference,
  V1PodSecurityContext,
  V1Probe,
  V1ResourceRequirements,
  V1Secret,
  V1Service,
} from "@kubernetes/client-node";
import {
  Annotations,
  API_VERSION,
  Labels,
  type ResolvedFunctionSpec,
  resolveFunctionSpec,
  type UpdraftFunction,
} from "../api/v1alpha1.ts";
import { shortHash } from "../lib/hash.ts";
import { announceEnv } from "../protocol/announce.ts";
import {
  CODE_PACKAGE_DIR,
  CODE_PACKAGE_FILE,
  codeSha256,
  functionEnv,
  functionLabels,
  USER_CODE_DIR,
} from "../protocol/function-pod.ts";
import { INSTANCE_CHANNEL_PORT } from "../protocol/instance-channel.ts";
import {
  functionKeySecretName,
  INSTANCE_KEY_ENV,
  INSTANCE_KEY_FIELD,
  POOL_KEY_SECRET,
} from "../protocol/instance-key.ts";
import { functionChildName } from "../protocol/naming.ts";
import { POOL_ENV, POOL_LABEL, POOL_MEMORY_LABEL, poolDeploymentName } from "../protocol/pool.ts";
import { TERMINATION_MESSAGE_PATH } from "../protocol/termination.ts";
import { WEB_FUNCTION_PORT } from "../protocol/triggers.ts";

export interface BuilderConfig {
  /** Runtime images by runtime, e.g. nodejs24 → updraft/runtime-nodejs24:0.1.0. */
  runtimeImage: (runtime: string) => string;
  /** Base URL of the activator's invoke API, e.g. http://updraft-activator.updraft-system.svc:8080. */
  activatorUrl: string;
  /** The activators keep code packages (code.url updraft:packages/…); unset: they do not. */
  codeStore?: boolean;
  /**
   * The key a function's instances take calls with, and a warm pool's (protocol/instance-key.ts,
   * derived from the master key). Absent (unit fixtures): instances check no key.
   */
  instanceKeys?: { function(namespace: string, name: string): string; pool(namespace: string): string };
}

/** The Deployment and Service of function "hello" are both named "fn-hello" (protocol/naming.ts). */
export const childName = functionChildName;

// Shared with the activator, which specialises warm-pool instances as these pods would be.
export { CODE_PACKAGE_DIR, CODE_PACKAGE_FILE, codeSha256, functionEnv, functionLabels, USER_CODE_DIR };

export const FUNCTION_PORT = 8080;
/** The shim's ports: HTTP, and the instance channel the activators send Event calls on. */
const INSTANCE_PORTS = [
  { name: "http", containerPort: FUNCTION_PORT, protocol: "TCP" },
  { name: "channel", containerPort: INSTANCE_CHANNEL_PORT, protocol: "TCP" },
];
export const TMP_SIZE = "512Mi";
export const RUN_AS_USER = 10001;
/**
 * What an instance holds beyond its function's memoryMB, so that the function can use all of
 * memoryMB before anything stops it: the shim's own memory (~22 MB anonymous), the Node.js
 * binary's pages in use (~50 MB, counted against the pod whose process first read them),
 * and the growth of a function between two of the shim's 50 ms samples (at 1 GB/s, 50 MB).
 * 22 + 50 + 50 = 122 → 128. With 64, a 128 MB function whose instance held the binary's
 * pages reached its container's limit at ~110 MB of its own: the kernel reclaimed the pages
 * the processes run from instead of stopping anything, the function crawled, and an
 * allocation that should end in 434 ended in 433.
 */
export const RUNTIME_OVERHEAD_MB = 128;
/** The runtime shim, PID 1 of the pod, from the runtime image (which holds Updraft at /app). */
export const RUNTIME_COMMAND = ["node", "/app/src/cmd/runtime/main.ts"];

export function selectorLabels(fn: UpdraftFunction): Record<string, string> {
  return { [Labels.function]: fn.metadata.name! };
}

export function ownerReference(fn: UpdraftFunction): V1OwnerReference {
  return {
    apiVersion: API_VERSION,
    kind: "Function",
    name: fn.metadata.name!,
    uid: fn.metadata.uid!,
    controller: true,
    blockOwnerDeletion: true,
  };
}

/** The shim's instance key, from a Secret of the pod's namespace (protocol/instance-key.ts). */
function instanceKeyEnv(secret: string): V1EnvVar {
  return { name: INSTANCE_KEY_ENV, valueFrom: { secretKeyRef: { name: secret, key: INSTANCE_KEY_FIELD } } };
}

/**
 * The Secret holding a function's instance key, owned by the Function (so it goes with it):
 * "updraft-fn-hello-key" with field "key". A Secret, not a literal in the Deployment:
 * whoever may only view the namespace reads Deployments, not Secrets.
 */
export function makeFunctionKeySecret(fn: UpdraftFunction, key: string): V1Secret {
  return {
    apiVersion: "v1",
    kind: "Secret",
    type: "Opaque",
    metadata: {
      name: functionKeySecretName(fn.metadata.name!),
      namespace: fn.metadata.namespace!,
      labels: functionLabels(fn),
      ownerReferences: [ownerReference(fn)],
    },
    data: { [INSTANCE_KEY_FIELD]: Buffer.from(key).toString("base64") },
  };
}

/** The Secret holding a warm-pool namespace's instance key (its pool instances' until specialised). */
export function makePoolKeySecret(namespace: string, key: string): V1Secret {
  return {
    apiVersion: "v1",
    kind: "Secret",
    type: "Opaque",
    metadata: {
      name: POOL_KEY_SECRET,
      namespace,
      labels: { [Labels.component]: "warm-pool", [Labels.managedBy]: "updraft", [Labels.partOf]: "updraft" },
    },
    data: { [INSTANCE_KEY_FIELD]: Buffer.from(key).toString("base64") },
  };
}

/**
 * The ConfigMap holding inline code, named by content hash: "fn-hello-code-<10 hex>".
 * A code change makes a new, immutable ConfigMap (so running pods never see files change
 * under them) and the Deployment rolls to it.
 */
export function makeCodeConfigMap(fn: UpdraftFunction): V1ConfigMap | undefined {
  const inline = fn.spec.code.inline;
  if (!inline) return undefined;
  return {
    apiVersion: "v1",
    kind: "ConfigMap",
    metadata: {
      name: `${childName(fn.metadata.name!)}-code-${shortHash(inline)}`,
      namespace: fn.metadata.namespace!,
      labels: { ...functionLabels(fn), [Labels.component]: "function-code" },
      annotations: { [Annotations.codeSha256]: codeSha256(fn) },
      ownerReferences: [ownerReference(fn)],
    },
    immutable: true,
    data: { ...inline },
  };
}

/** The ConfigMap the pods mount at /var/user: our own for inline code, the user's for configMapRef. */
export function codeConfigMapName(fn: UpdraftFunction): string | undefined {
  if (fn.spec.code.inline) return makeCodeConfigMap(fn)!.metadata!.name;
  return fn.spec.code.configMapRef?.name;
}

/**
 * The function's Deployment. `replicas` is set only here, for creation:
 * max(provisioned, minInstances), so a new function with neither sits at zero. After
 * creation the autoscaler owns replicas and the reconciler never writes it.
 */
export function makeDeployment(fn: UpdraftFunction, cfg: BuilderConfig, sha: string): V1Deployment {
  const spec = resolveFunctionSpec(fn.spec);
  const name = childName(fn.metadata.name!);
  const labels = functionLabels(fn);
  const cmName = codeConfigMapName(fn);
  // An image function's own image runs beside the shim, which comes from a runtime image.
  const image = cfg.runtimeImage(spec.code.image ? IMAGE_SHIM_RUNTIME : spec.runtime);
  const resources = instanceResources(spec.memoryMB);
  // Files are mounted at /var/user as they are; a package (configMapRef.key) is mounted
  // beside it and unpacked into an emptyDir /var/user by the shim, as a url package is.
  const packageKey = spec.code.configMapRef?.key;
  const codeMounted = cmName !== undefined && !packageKey;
  const shim: V1Container = {
    name: "function",
    image,
    imagePullPolicy: "IfNotPresent",
    command: RUNTIME_COMMAND,
    ports: INSTANCE_PORTS,
    // The function's environment, then what lets the shim announce itself to the activators,
    // then the key every call to it must carry (from the function's Secret; the shim keeps
    // it out of the function's environment).
    env: [
      ...functionEnv(fn, spec, sha),
      ...announceEnv(cfg.activatorUrl),
      ...(cfg.instanceKeys ? [instanceKeyEnv(functionKeySecretName(fn.metadata.name!))] : []),
    ],
    workingDir: USER_CODE_DIR,
    resources,
    readinessProbe: INSTANCE_READINESS,
    securityContext: RESTRICTED_CONTAINER,
    ...WHY_IT_STOPPED,
    volumeMounts: [
      { name: "tmp", mountPath: "/tmp" },
      { name: "code", mountPath: USER_CODE_DIR, readOnly: codeMounted },
      ...(packageKey ? [{ name: "package", mountPath: CODE_PACKAGE_DIR, readOnly: true }] : []),
    ],
  };
  const deployment: V1Deployment = {
    apiVersion: "apps/v1",
    kind: "Deployment",
    metadata: {
      name,
      namespace: fn.metadata.namespace!,
      labels,
      ownerReferences: [ownerReference(fn)],
    },
    spec: {
      replicas: Math.max(spec.concurrency.provisioned, spec.scaling.minInstances),
      selector: { matchLabels: selectorLabels(fn) },
      revisionHistoryLimit: 2,
      // Never fewer ready instances than asked for during a rollout.
      strategy: { type: "RollingUpdate", rollingUpdate: { maxSurge: "25%", maxUnavailable: 0 } },
      template: {
        metadata: {
          labels,
          annotations: {
            [Annotations.codeSha256]: sha,
            // A new key (the master key replaced) rolls the pods onto it: the Secret's name
            // alone would not change the template.
            ...(cfg.instanceKeys
              ? {
                  [Annotations.instanceKeyHash]: shortHash(
                    cfg.instanceKeys.function(fn.metadata.namespace!, fn.metadata.name!),
                  ),
                }
              : {}),
          },
        },
        spec: {
          automountServiceAccountToken: false,
          enableServiceLinks: false,
          // In-flight invocations get their whole timeout to finish on scale-down.
          terminationGracePeriodSeconds: spec.timeoutSeconds + 5,
          securityContext: INSTANCE_POD_SECURITY,
          containers: spec.code.image ? imageContainers(spec, shim) : [shim],
          volumes: [
            { name: "tmp", emptyDir: { sizeLimit: TMP_SIZE } },
            codeMounted
              ? { name: "code", configMap: { name: cmName, defaultMode: 0o555 } }
              : // url code is pulled into /var/user by the runtime shim at start.
                { name: "code", emptyDir: { sizeLimit: TMP_SIZE } },
            ...(packageKey
              ? [
                  {
                    name: "package",
                    configMap: { name: cmName!, items: [{ key: packageKey, path: "package" }] },
                  },
                ]
              : []),
          ],
        },
      },
    },
  };
  deployment.metadata!.annotations = { [Annotations.specHash]: deploymentSpecHash(deployment) };
  return deployment;
}

/**
 * An instance's memory and CPU for a function of memoryMB. The function gets memoryMB; the
 * runtime shim (a Node.js process; RUNTIME_OVERHEAD_MB says what it needs) comes on top,
 * as Knative's queue-proxy has resources of its own. SCF gives CPU in proportion to memory: 128 MB → 62m requested,
 * 1024 MB → 500m.
 */
export function instanceResources(memoryMB: number): V1ResourceRequirements {
  const memory = `${memoryMB + RUNTIME_OVERHEAD_MB}Mi`;
  const cpuMillis = Math.max(25, Math.round(memoryMB / 2.048));
  return { requests: { memory, cpu: `${cpuMillis}m` }, limits: { memory } };
}

/** The shim's /readyz, every second: a probe the activator's own probing usually beats. */
const INSTANCE_READINESS: V1Probe = {
  httpGet: { path: "/readyz", port: FUNCTION_PORT },
  periodSeconds: 1,
  failureThreshold: 1,
  timeoutSeconds: 1,
};

/** Every function pod (and pool pod) runs as one unprivileged user, with the runtime's default seccomp. */
const INSTANCE_POD_SECURITY: V1PodSecurityContext = {
  runAsNonRoot: true,
  runAsUser: RUN_AS_USER,
  runAsGroup: RUN_AS_USER,
  fsGroup: RUN_AS_USER,
  seccompProfile: { type: "RuntimeDefault" },
};

/** The longest timeoutSeconds a Function may have (the CRD's maximum). */
const MAX_TIMEOUT_SECONDS = 900;

/**
 * A runtime's warm pool in a namespace (docs/warm-pool.md): `size` pods of the runtime's
 * image whose shim waits to be specialised, each exactly what a function pod of that runtime
 * and memoryMB is — image, resources, user, read-only root, /tmp, no ServiceAccount token —
 * but for what only a function has (its env, its code), which the activator hands to the
 * shim. /var/user is an empty folder the shim writes inline code into. The grace period is
 * the longest a function's can be: a specialised pod may run any function's calls.
 */
export function makePoolDeployment(
  namespace: string,
  runtime: string,
  size: number,
  memoryMB: number,
  cfg: BuilderConfig,
): V1Deployment {
  const labels = {
    [POOL_LABEL]: runtime,
    [POOL_MEMORY_LABEL]: String(memoryMB),
    [Labels.component]: "warm-pool",
    [Labels.managedBy]: "updraft",
    [Labels.partOf]: "updraft",
  };
  const deployment: V1Deployment = {
    apiVersion: "apps/v1",
    kind: "Deployment",
    metadata: { name: poolDeploymentName(runtime), namespace, labels },
    spec: {
      replicas: size,
      selector: { matchLabels: { [POOL_LABEL]: runtime } },
      revisionHistoryLimit: 2,
      template: {
        metadata: {
          labels,
          // A new pool key (the master key replaced) restarts the pool's instances on it.
          ...(cfg.instanceKeys
            ? { annotations: { [Annotations.instanceKeyHash]: shortHash(cfg.instanceKeys.pool(namespace)) } }
            : {}),
        },
        spec: {
          automountServiceAccountToken: false,
          enableServiceLinks: false,
          terminationGracePeriodSeconds: MAX_TIMEOUT_SECONDS + 5,
          securityContext: INSTANCE_POD_SECURITY,
          containers: [
            {
              name: "function",
              image: cfg.runtimeImage(runtime),
              imagePullPolicy: "IfNotPresent",
              command: RUNTIME_COMMAND,
              ports: INSTANCE_PORTS,
              env: [
                { name: "SCF_RUNTIME", value: runtime },
                { name: "SCF_MEMORY_SIZE", value: String(memoryMB) },
                { name: "SCF_USERCODEPATH", value: USER_CODE_DIR },
                { name: POOL_ENV, value: "true" },
                ...(cfg.instanceKeys ? [instanceKeyEnv(POOL_KEY_SECRET)] : []),
              ],
              workingDir: USER_CODE_DIR,
              resources: instanceResources(memoryMB),
              readinessProbe: INSTANCE_READINESS,
              securityContext: RESTRICTED_CONTAINER,
              ...WHY_IT_STOPPED,
              volumeMounts: [
                { name: "tmp", mountPath: "/tmp" },
                { name: "code", mountPath: USER_CODE_DIR },
              ],
            },
          ],
          volumes: [
            { name: "tmp", emptyDir: { sizeLimit: TMP_SIZE } },
            { name: "code", emptyDir: { sizeLimit: TMP_SIZE } },
          ],
        },
      },
    },
  };
  deployment.metadata!.annotations = { [Annotations.specHash]: deploymentSpecHash(deployment) };
  return deployment;
}

/**
 * Every container of a function pod says why it stopped: the shim's own words from the
 * termination file, else the last lines of its log when it failed.
 */
const WHY_IT_STOPPED = {
  terminationMessagePath: TERMINATION_MESSAGE_PATH,
  terminationMessagePolicy: "FallbackToLogsOnError",
} as const;

/** Every container of a function pod: nothing to escalate to, nothing to write but /tmp. */
const RESTRICTED_CONTAINER = {
  allowPrivilegeEscalation: false,
  readOnlyRootFilesystem: true,
  runAsNonRoot: true,
  capabilities: { drop: ["ALL"] },
};

const SCF_IMAGE_ENV = new Set([
  "SCF_FUNCTIONNAME",
  "SCF_FUNCTIONVERSION",
  "SCF_NAMESPACE",
  "SCF_MEMORY_SIZE",
  "SCF_TIMEOUT",
]);

/** The runtime image whose shim serves image functions (any has the shim; this is the smallest). */
export const IMAGE_SHIM_RUNTIME = "nodejs24";
/** The shim's share of an image function's pod: what the overhead of every pod allows it. */
const IMAGE_SHIM_MEMORY = `${RUNTIME_OVERHEAD_MB}Mi`;

/**
 * An image function's pod: the shim as a sidecar (as Knative's queue-proxy) on 8080, and the
 * user's image unchanged — its own entrypoint, as user 10001, read-only root but /tmp —
 * serving SCF's image contract on port 9000 (POST /event-invoke for Event functions, HTTP
 * for Web ones), which the shim reaches on localhost (one network namespace per pod). The
 * function's container gets memoryMB, so the kernel holds it to that; the shim its own 128 Mi.
 */
function imageContainers(spec: ResolvedFunctionSpec, shim: V1Container): V1Container[] {
  // SCF's identity variables (a user's image reads them as on SCF), the port, the user's env.
  // Every TENCENTCLOUD_ variable is SCF's (RUNENV, and spec.tencentCloud's: the CRD keeps
  // the prefix out of spec.env), so the prefix says it, not a second list of their names.
  const scfEnv = (shim.env ?? []).filter(
    (e) => SCF_IMAGE_ENV.has(e.name) || e.name.startsWith("TENCENTCLOUD_"),
  );
  return [
    {
      ...shim,
      name: "shim",
      env: [...(shim.env ?? []), { name: "UPDRAFT_IMAGE_FUNCTION", value: "true" }],
      workingDir: "/app", // no code of its own: /var/user is not mounted
      resources: {
        requests: { memory: IMAGE_SHIM_MEMORY, cpu: "25m" },
        limits: { memory: IMAGE_SHIM_MEMORY },
      },
      volumeMounts: [{ name: "tmp", mountPath: "/tmp" }],
    },
    {
      name: "function",
      image: spec.code.image!,
      imagePullPolicy: "IfNotPresent",
      ports: [{ name: "scf", containerPort: WEB_FUNCTION_PORT, protocol: "TCP" }],
      env: [...scfEnv, { name: "PORT", value: String(WEB_FUNCTION_PORT) }, ...spec.env],
      resources: {
        requests: { memory: `${spec.memoryMB}Mi`, cpu: shim.resources!.requests!.cpu! },
        limits: { memory: `${spec.memoryMB}Mi` },
      },
      securityContext: RESTRICTED_CONTAINER,
      ...WHY_IT_STOPPED,
      volumeMounts: [{ name: "tmp", mountPath: "/tmp" }],
    },
  ];
}

/** Hash of everything the reconciler owns in a Deployment (not replicas: the autoscaler owns it). */
export function deploymentSpecHash(d: V1Deployment): string {
  const { replicas: _replicas, ...owned } = d.spec!;
  return shortHash({ labels: d.metadata?.labels, spec: owned }, 16);
}

export function makeService(fn: UpdraftFunction): V1Service {
  const service: V1Service = {
    apiVersion: "v1",
    kind: "Service",
    metadata: {
      name: childName(fn.metadata.name!),
      namespace: fn.metadata.namespace!,
      labels: functionLabels(fn),
      ownerReferences: [ownerReference(fn)],
    },
    spec: {
      type: "ClusterIP",
      selector: selectorLabels(fn),
      ports: [{ name: "http", port: 80, targetPort: FUNCTION_PORT, protocol: "TCP" }],
    },
  };
  service.metadata!.annotations = {
    [Annotations.specHash]: shortHash({ labels: service.metadata!.labels, spec: service.spec }, 16),
  };
  return service;
}

/** Where Http Triggers are served: the activator's URL, or a host per namespace. */
export interface HttpUrlConfig {
  activatorUrl: string;
  /** Set: {scheme}://{namespace}.{domain}{path} (the chart's http.namespaceDomain). */
  namespaceDomain?: string;
  /** http or https, for the namespace hosts (TLS ends in front of the activator). */
  namespaceScheme?: string;
}

/**
 * Where an Http Trigger is served. Example: namespace "shop", path "/cart" →
 * http://updraft-activator.updraft-system.svc:8080/http/shop/cart, or with the domain
 * "fn.example.com" and scheme https → https://shop.fn.example.com/cart.
 */
export function httpTriggerUrl(namespace: string, path: string, cfg: HttpUrlConfig): string {
  if (cfg.namespaceDomain)
    return `${cfg.namespaceScheme ?? "http"}://${namespace}.${cfg.namespaceDomain}${path}`;
  return `${cfg.activatorUrl.replace(/\/+$/, "")}/http/${namespace}${path}`;
}

export function functionUrl(fn: UpdraftFunction, cfg: BuilderConfig): string {
  const base = cfg.activatorUrl.replace(/\/+$/, "");
  return `${base}/v1/namespaces/${fn.metadata.namespace}/functions/${fn.metadata.name}/invocations`;
}
