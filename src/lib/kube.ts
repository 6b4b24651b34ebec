/**
 * Kubernetes plumbing shared by components: informers that restart after errors
 * (client-node's ListWatch stops on an error and never restarts by itself), and helpers
 * for the custom resources.
 */
import {
  CustomObjectsApi,
  KubeConfig,
  type KubernetesListObject,
  type KubernetesObject,
  ListWatch,
  Watch,
} from "@kubernetes/client-node";
import {
  FUNCTIONS,
  GROUP,
  TRIGGERS,
  type UpdraftFunction,
  type UpdraftTrigger,
  VERSION,
} from "../api/v1alpha1.ts";
import type { Logger } from "./logger.ts";

export type Handler<T> = (obj: T) => void;

/**
 * A KubeConfig loaded the default way (KUBECONFIG, ~/.kube/config, or in-cluster) whose API
 * calls share one connection pool. client-node 2.0 builds a new undici Agent for every
 * request, so every call paid a TCP and TLS handshake: in bench/controller-500.ts that was
 * over half of the controller's CPU. One dispatcher per (cluster, user) keeps connections
 * alive and reuses them.
 */
export function loadKubeConfig(): KubeConfig {
  const kc = new KubeConfig();
  kc.loadFromDefault();
  shareConnections(kc);
  return kc;
}

export function shareConnections(kc: KubeConfig): void {
  type Factory = (cluster: unknown, agentOptions: unknown) => unknown;
  const target = kc as unknown as { createDispatcher: Factory };
  const original = target.createDispatcher.bind(kc);
  const cache = new Map<string, unknown>();
  target.createDispatcher = (cluster, agentOptions) => {
    const key = `${kc.getCurrentCluster()?.server}|${kc.getCurrentUser()?.name}`;
    if (!cache.has(key)) cache.set(key, original(cluster, agentOptions));
    return cache.get(key);
  };
}

export interface Cache<T> {
  get(name: string, namespace?: string): T | undefined;
  list(namespace?: string): ReadonlyArray<T>;
}

export interface ResilientInformer<T extends KubernetesObject> extends Cache<T> {
  onChange(handler: (obj: T, kind: "add" | "update" | "delete") => void): void;
  /** Lists, fills the cache, starts watching; resolves once the cache is synced. */
  start(): Promise<void>;
  stop(): Promise<void>;
}

/**
 * An informer over `path` that restarts on error with capped exponential back-off
 * (1 s, 2 s, 4 s … 30 s), re-listing so no change is missed.
 */
export function makeResilientInformer<T extends KubernetesObject>(
  kc: KubeConfig,
  path: string,
  list: () => Promise<KubernetesListObject<T>>,
  log: Logger,
  labelSelector?: string,
  fieldSelector?: string,
): ResilientInformer<T> {
  const informer = new ListWatch<T>(path, new Watch(kc), list, false, labelSelector, fieldSelector);
  let stopped = false;
  let failures = 0;
  let timer: NodeJS.Timeout | undefined;
  let starting = false;
  let startFailed: unknown;
  informer.on("connect", () => {
    failures = 0;
  });
  informer.on("error", (err: unknown) => {
    if (stopped) return;
    if (starting) {
      startFailed = err; // start() retries itself
      return;
    }
    const delay = Math.min(1000 * 2 ** failures, 30_000);
    failures++;
    log.warn("informer stopped; restarting", { path, delayMs: delay, err: String(err) });
    timer = setTimeout(() => {
      if (!stopped) informer.start().catch(() => undefined); // a failed start reports "error" again
    }, delay);
  });
  return {
    get: (name, namespace) => informer.get(name, namespace),
    list: (namespace) => informer.list(namespace),
    onChange(handler) {
      informer.on("add", (o) => handler(o, "add"));
      informer.on("update", (o) => handler(o, "update"));
      informer.on("delete", (o) => handler(o, "delete"));
    },
    async start() {
      stopped = false;
      // client-node's start() resolves even when the first list fails; retry until the
      // cache really holds a list, so callers can trust "started" to mean "synced".
      for (let attempt = 0; ; attempt++) {
        starting = true;
        startFailed = undefined;
        await informer.start();
        starting = false;
        if (startFailed === undefined || stopped) return;
        const delay = Math.min(500 * 2 ** attempt, 10_000);
        log.warn("informer start failed; retrying", { path, delayMs: delay, err: String(startFailed) });
        await new Promise((r) => setTimeout(r, delay));
      }
    },
    async stop() {
      stopped = true;
      if (timer) clearTimeout(timer);
      await informer.stop();
    },
  };
}

export const keyOf = (namespace: string | undefined, name: string | undefined): string =>
  `${namespace ?? ""}/${name ?? ""}`;

export function splitKey(key: string): { namespace: string; name: string } {
  const i = key.indexOf("/");
  return { namespace: key.slice(0, i), name: key.slice(i + 1) };
}

/**
 * Which namespaces Updraft serves: every one (undefined), or only those listed (the chart's
 * watchNamespaces, for a cluster where Updraft may hold no cluster-wide rights). Parsed once
 * from "team-a,team-b"; empty means every namespace.
 */
export type Scope = readonly string[] | undefined;

/** "team-a,team-b" or empty: what UPDRAFT_WATCH_NAMESPACES may hold. */
export const NAMESPACE_LIST = /^([a-z0-9]([-a-z0-9]*[a-z0-9])?(,[a-z0-9]([-a-z0-9]*[a-z0-9])?)*)?$/;

export function parseScope(text: string): Scope {
  const namespaces = text
    .split(",")
    .map((s) => s.trim())
    .filter(Boolean);
  return namespaces.length > 0 ? namespaces : undefined;
}

/** A namespaced resource's two ways of being listed and watched: all namespaces, or one. */
export interface ScopedResource<T extends KubernetesObject> {
  /** "/apis/apps/v1/deployments" */
  clusterPath: string;
  /** ns → "/apis/apps/v1/namespaces/{ns}/deployments" */
  namespacedPath: (namespace: string) => string;
  listAll: () => Promise<KubernetesListObject<T>>;
  listIn: (namespace: string) => Promise<KubernetesListObject<T>>;
}

/**
 * An informer over a namespaced resource within a scope: one over the whole cluster, or one
 * per served namespace behind a single cache (what needs only namespaced rights: a Role
 * per namespace instead of a ClusterRole). Example: scope ["a", "b"] → two watches, and
 * list() holds both namespaces' objects, get("x", "c") is undefined.
 */
export function makeScopedInformer<T extends KubernetesObject>(
  kc: KubeConfig,
  scope: Scope,
  resource: ScopedResource<T>,
  log: Logger,
  labelSelector?: string,
): ResilientInformer<T> {
  if (scope === undefined)
    return makeResilientInformer(kc, resource.clusterPath, resource.listAll, log, labelSelector);
  const parts = new Map(
    scope.map((ns) => [
      ns,
      makeResilientInformer(kc, resource.namespacedPath(ns), () => resource.listIn(ns), log, labelSelector),
    ]),
  );
  return {
    get: (name, namespace) =>
      namespace === undefined ? undefined : parts.get(namespace)?.get(name, namespace),
    list: (namespace) =>
      namespace === undefined
        ? [...parts.values()].flatMap((p) => p.list())
        : (parts.get(namespace)?.list(namespace) ?? []),
    onChange(handler) {
      for (const p of parts.values()) p.onChange(handler);
    },
    async start() {
      await Promise.all([...parts.values()].map((p) => p.start()));
    },
    async stop() {
      await Promise.all([...parts.values()].map((p) => p.stop()));
    },
  };
}

/** A custom resource of Updraft's (functions, triggers) as a scoped resource. */
function customResource<T extends KubernetesObject>(kc: KubeConfig, plural: string): ScopedResource<T> {
  const custom = kc.makeApiClient(CustomObjectsApi);
  return {
    clusterPath: `/apis/${GROUP}/${VERSION}/${plural}`,
    namespacedPath: (ns) => `/apis/${GROUP}/${VERSION}/namespaces/${ns}/${plural}`,
    listAll: () =>
      custom.listClusterCustomObject({ group: GROUP, version: VERSION, plural }) as Promise<
        KubernetesListObject<T>
      >,
    listIn: (namespace) =>
      custom.listNamespacedCustomObject({ group: GROUP, version: VERSION, namespace, plural }) as Promise<
        KubernetesListObject<T>
      >,
  };
}

/** The informer on the Triggers Updraft serves, which the controller, activator and router share. */
export function makeTriggerInformer(
  kc: KubeConfig,
  log: Logger,
  scope?: Scope,
): ResilientInformer<UpdraftTrigger> {
  return makeScopedInformer(kc, scope, customResource<UpdraftTrigger>(kc, TRIGGERS), log);
}

/** The informer on the Functions Updraft serves, which the controller, activator and autoscaler share. */
export function makeFunctionInformer(
  kc: KubeConfig,
  log: Logger,
  scope?: Scope,
): ResilientInformer<UpdraftFunction> {
  return makeScopedInformer(kc, scope, customResource<UpdraftFunction>(kc, FUNCTIONS), log);
}
