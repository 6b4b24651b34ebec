/**
 * Pure pieces of the node agent: a container's environment (downward API, ConfigMap and
 * Secret keys, envFrom, $(VAR) expansion, the kubernetes Service variables), its user, and
 * the pod status a kubelet would report for a set of container states.
 */
import type {
  V1Container,
  V1ContainerStatus,
  V1EnvVar,
  V1Pod,
  V1PodCondition,
  V1PodStatus,
} from "@kubernetes/client-node";

export interface Lookups {
  configMap(name: string): Record<string, string> | undefined;
  secret(name: string): Record<string, string> | undefined;
}

export interface NodeFacts {
  hostIP: string;
  podIP: string;
  apiServiceHost: string;
  apiServicePort: number;
}

export class ContainerConfigError extends Error {
  readonly reason = "CreateContainerConfigError";
}

/** Reads a downward-API field path of the pod: metadata.labels['app'], status.podIP, ... */
export function fieldPathValue(pod: V1Pod, path: string, facts: NodeFacts): string {
  const m = /^metadata\.(labels|annotations)\['(.+)'\]$/.exec(path);
  if (m) return (m[1] === "labels" ? pod.metadata?.labels : pod.metadata?.annotations)?.[m[2]!] ?? "";
  switch (path) {
    case "metadata.name":
      return pod.metadata?.name ?? "";
    case "metadata.namespace":
      return pod.metadata?.namespace ?? "";
    case "metadata.uid":
      return pod.metadata?.uid ?? "";
    case "metadata.labels":
      return formatMap(pod.metadata?.labels);
    case "metadata.annotations":
      return formatMap(pod.metadata?.annotations);
    case "spec.nodeName":
      return pod.spec?.nodeName ?? "";
    case "spec.serviceAccountName":
      return pod.spec?.serviceAccountName ?? "default";
    case "status.hostIP":
    case "status.hostIPs":
      return facts.hostIP;
    case "status.podIP":
    case "status.podIPs":
      return facts.podIP;
    default:
      throw new ContainerConfigError(`unsupported fieldPath ${path}`);
  }
}

/** The downward API's map format: one key="value" per line, sorted. */
export function formatMap(m: Record<string, string> | undefined): string {
  return Object.keys(m ?? {})
    .sort()
    .map((k) => `${k}=${JSON.stringify(m![k])}`)
    .join("\n");
}

/** Quantity → number in the divisor's unit, rounded up as the kubelet does (e.g. 128Mi / 1Mi = 128). */
export function parseQuantity(q: string): number {
  const m = /^([0-9.]+)([a-zA-Z]*)$/.exec(q.trim());
  if (!m) throw new ContainerConfigError(`bad quantity ${q}`);
  const n = Number(m[1]);
  const units: Record<string, number> = {
    "": 1,
    m: 1e-3,
    k: 1e3,
    M: 1e6,
    G: 1e9,
    T: 1e12,
    Ki: 1024,
    Mi: 1024 ** 2,
    Gi: 1024 ** 3,
    Ti: 1024 ** 4,
  };
  const u = units[m[2]!];
  if (u === undefined) throw new ContainerConfigError(`bad quantity unit in ${q}`);
  return n * u;
}

export function resourceFieldValue(container: V1Container, resource: string, divisor?: string): string {
  const [kind, name] = resource.split(".") as ["limits" | "requests", string];
  const raw = container.resources?.[kind]?.[name];
  if (raw === undefined) return "0";
  const value = parseQuantity(String(raw)) / parseQuantity(divisor ?? (name === "cpu" ? "1" : "1"));
  return String(Math.ceil(value));
}

/**
 * Expands $(VAR) references as the kubelet does: known names are replaced, $$ escapes a
 * dollar, unknown references are left as written. "$(GREETING) $(NAME)" with
 * GREETING=hi → "hi $(NAME)".
 */
export function expandVars(s: string, env: Record<string, string>): string {
  return s.replace(/\$\$|\$\(([A-Za-z_][A-Za-z0-9_.-]*)\)/g, (whole, name: string | undefined) => {
    if (whole === "$$") return "$";
    return name !== undefined && name in env ? env[name]! : whole;
  });
}

/** The variables every container gets for the kubernetes Service (in-cluster configuration). */
export function kubernetesServiceEnv(host: string, port: number): Record<string, string> {
  return {
    KUBERNETES_SERVICE_HOST: host,
    KUBERNETES_SERVICE_PORT: String(port),
    KUBERNETES_SERVICE_PORT_HTTPS: String(port),
    KUBERNETES_PORT: `tcp://${host}:${port}`,
    KUBERNETES_PORT_443_TCP: `tcp://${host}:${port}`,
    KUBERNETES_PORT_443_TCP_PROTO: "tcp",
    KUBERNETES_PORT_443_TCP_PORT: String(port),
    KUBERNETES_PORT_443_TCP_ADDR: host,
  };
}

/**
 * The environment of a container, in the kubelet's order: image env, the kubernetes
 * Service variables, HOSTNAME, envFrom, env (later wins). Throws ContainerConfigError for a
 * missing non-optional ConfigMap, Secret or key (the kubelet's CreateContainerConfigError).
 */
export function resolveEnv(
  pod: V1Pod,
  container: V1Container,
  lookups: Lookups,
  facts: NodeFacts,
  imageEnv: ReadonlyArray<{ name: string; value: string }> = [],
): Record<string, string> {
  const env: Record<string, string> = {};
  for (const e of imageEnv) env[e.name] = e.value;
  Object.assign(env, kubernetesServiceEnv(facts.apiServiceHost, facts.apiServicePort));
  env.HOSTNAME = pod.spec?.hostname ?? pod.metadata?.name ?? "";
  env.HOME ??= "/";
  for (const from of container.envFrom ?? []) {
    const prefix = from.prefix ?? "";
    if (from.configMapRef) {
      const data = lookups.configMap(from.configMapRef.name!);
      if (!data && !from.configMapRef.optional) {
        throw new ContainerConfigError(`configmap "${from.configMapRef.name}" not found`);
      }
      for (const [k, v] of Object.entries(data ?? {})) env[prefix + k] = v;
    }
    if (from.secretRef) {
      const data = lookups.secret(from.secretRef.name!);
      if (!data && !from.secretRef.optional)
        throw new ContainerConfigError(`secret "${from.secretRef.name}" not found`);
      for (const [k, v] of Object.entries(data ?? {})) env[prefix + k] = v;
    }
  }
  for (const e of container.env ?? []) env[e.name] = envValue(pod, container, e, env, lookups, facts);
  return env;
}

function envValue(
  pod: V1Pod,
  container: V1Container,
  e: V1EnvVar,
  sofar: Record<string, string>,
  lookups: Lookups,
  facts: NodeFacts,
): string {
  if (e.value !== undefined) return expandVars(e.value, sofar);
  const from = e.valueFrom;
  if (!from) return "";
  if (from.fieldRef) return fieldPathValue(pod, from.fieldRef.fieldPath, facts);
  if (from.resourceFieldRef) {
    return resourceFieldValue(
      container,
      from.resourceFieldRef.resource,
      from.resourceFieldRef.divisor as string,
    );
  }
  const ref = from.configMapKeyRef ?? from.secretKeyRef;
  if (ref) {
    const data = from.configMapKeyRef ? lookups.configMap(ref.name!) : lookups.secret(ref.name!);
    const kind = from.configMapKeyRef ? "configmap" : "secret";
    const value = data?.[ref.key];
    if (value === undefined) {
      if (ref.optional) return "";
      throw new ContainerConfigError(
        data ? `couldn't find key ${ref.key} in ${kind} ${ref.name}` : `${kind} "${ref.name}" not found`,
      );
    }
    return value;
  }
  return "";
}

/** uid and gid a container runs as; runAsNonRoot with uid 0 is refused, as the kubelet does. */
export function containerUser(pod: V1Pod, container: V1Container): { uid: number; gid: number } {
  const sc = container.securityContext;
  const psc = pod.spec?.securityContext;
  const uid = sc?.runAsUser ?? psc?.runAsUser ?? 0;
  const gid = sc?.runAsGroup ?? psc?.runAsGroup ?? (uid === 0 ? 0 : uid);
  if ((sc?.runAsNonRoot ?? psc?.runAsNonRoot) && uid === 0) {
    throw new ContainerConfigError("container has runAsNonRoot and image will run as root");
  }
  return { uid, gid };
}

/** What the agent knows about one container, from which its V1ContainerStatus is made. */
export interface ContainerState {
  name: string;
  image: string;
  containerID?: string;
  restartCount: number;
  ready: boolean;
  started: boolean;
  state:
    | { kind: "waiting"; reason: string; message?: string }
    | { kind: "running"; startedAt: Date }
    | {
        kind: "terminated";
        exitCode: number;
        signal?: number;
        reason: string;
        message?: string;
        startedAt: Date;
        finishedAt: Date;
      };
  last?: Extract<ContainerState["state"], { kind: "terminated" }> & { containerID?: string };
  /** Whether it ever ran: a container waiting to be restarted keeps the pod Running. */
  everRan: boolean;
}

function toStatusState(s: ContainerState["state"], containerID?: string): V1ContainerStatus["state"] {
  switch (s.kind) {
    case "waiting":
      return { waiting: { reason: s.reason, ...(s.message ? { message: s.message } : {}) } };
    case "running":
      return { running: { startedAt: s.startedAt } };
    case "terminated":
      return {
        terminated: {
          exitCode: s.exitCode,
          ...(s.signal ? { signal: s.signal } : {}),
          reason: s.reason,
          ...(s.message ? { message: s.message } : {}),
          startedAt: s.startedAt,
          finishedAt: s.finishedAt,
          ...(containerID ? { containerID } : {}),
        },
      };
  }
}

export function containerStatus(c: ContainerState): V1ContainerStatus {
  return {
    name: c.name,
    image: c.image,
    imageID: `updraft-local://${c.image}`,
    ...(c.containerID ? { containerID: c.containerID } : {}),
    restartCount: c.restartCount,
    ready: c.ready,
    started: c.started,
    state: toStatusState(c.state, c.containerID),
    lastState: c.last ? toStatusState(c.last, c.last.containerID) : {},
  };
}

/**
 * The pod phase as the kubelet computes it: Pending until every container ran; Running
 * while any runs or will be restarted; Succeeded when all exited 0 and none will restart;
 * Failed when all exited, one failed and none will restart.
 */
export function podPhase(restartPolicy: string, containers: readonly ContainerState[]): V1PodStatus["phase"] {
  let waitingNeverRan = 0;
  let running = 0;
  let succeeded = 0;
  let failed = 0;
  let restarting = 0;
  for (const c of containers) {
    if (c.state.kind === "running") running++;
    else if (c.state.kind === "terminated") {
      if (c.state.exitCode === 0) succeeded++;
      else failed++;
    } else if (c.everRan) restarting++;
    else waitingNeverRan++;
  }
  if (waitingNeverRan > 0) return "Pending";
  if (running > 0 || restarting > 0) return "Running";
  if (restartPolicy === "Always") return "Running";
  if (failed > 0) return restartPolicy === "OnFailure" ? "Running" : "Failed";
  return succeeded === containers.length ? "Succeeded" : "Running";
}

function cond(
  type: string,
  ok: boolean,
  previous: V1PodCondition[] | undefined,
  now: Date,
  reason?: string,
): V1PodCondition {
  const status = ok ? "True" : "False";
  const old = previous?.find((c) => c.type === type);
  return {
    type,
    status,
    lastProbeTime: null as unknown as Date,
    lastTransitionTime: old && old.status === status && old.lastTransitionTime ? old.lastTransitionTime : now,
    ...(!ok && reason ? { reason } : {}),
  };
}

export function buildPodStatus(
  pod: V1Pod,
  containers: readonly ContainerState[],
  facts: { hostIP: string; podIP?: string; startTime: Date; sandboxReady: boolean },
  now: Date,
): V1PodStatus {
  const phase = podPhase(pod.spec?.restartPolicy ?? "Always", containers);
  const allReady = containers.length > 0 && containers.every((c) => c.ready);
  const terminal = phase === "Succeeded" || phase === "Failed";
  const previous = pod.status?.conditions;
  const scheduled = previous?.find((c) => c.type === "PodScheduled") ?? {
    type: "PodScheduled",
    status: "True",
    lastTransitionTime: now,
  };
  return {
    phase,
    hostIP: facts.hostIP,
    hostIPs: [{ ip: facts.hostIP }],
    ...(facts.podIP ? { podIP: facts.podIP, podIPs: [{ ip: facts.podIP }] } : {}),
    startTime: facts.startTime,
    qosClass: pod.status?.qosClass ?? "BestEffort",
    conditions: [
      cond("PodReadyToStartContainers", facts.sandboxReady && !terminal, previous, now),
      cond("Initialized", true, previous, now),
      cond("Ready", allReady && !terminal, previous, now, terminal ? "PodCompleted" : "ContainersNotReady"),
      cond(
        "ContainersReady",
        allReady && !terminal,
        previous,
        now,
        terminal ? "PodCompleted" : "ContainersNotReady",
      ),
      scheduled,
    ],
    containerStatuses: containers.map(containerStatus),
  };
}

/**
 * Kubelet's restart back-off: 10 s doubling to 5 min, reset after a container ran
 * 10 minutes. base 10 s: restarts 1, 2, 3, 6 wait 10, 20, 40, 300 s.
 */
export function restartBackoffMs(restarts: number, baseMs: number, maxMs = 300_000): number {
  return Math.min(baseMs * 2 ** Math.max(0, restarts - 1), maxMs);
}
