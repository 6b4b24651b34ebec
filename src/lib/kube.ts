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

/** The informer on every Function in the cluster, which controller, activator and autoscaler share. */
export function makeTriggerInformer(kc: KubeConfig, log: Logger): ResilientInformer<UpdraftTrigger> {
  const custom = kc.makeApiClient(CustomObjectsApi);
  return makeResilientInformer<UpdraftTrigger>(
    kc,
    `/apis/${GROUP}/${VERSION}/${TRIGGERS}`,
    () =>
      custom.listClusterCustomObject({ group: GROUP, version: VERSION, plural: TRIGGERS }) as Promise<
        KubernetesListObject<UpdraftTrigger>
      >,
    log,
  );
}

export function makeFunctionInformer(kc: KubeConfig, log: Logger): ResilientInformer<UpdraftFunction> {
  const custom = kc.makeApiClient(CustomObjectsApi);
  return makeResilientInformer<UpdraftFunction>(
    kc,
    `/apis/${GROUP}/${VERSION}/${FUNCTIONS}`,
    () =>
      custom.listClusterCustomObject({ group: GROUP, version: VERSION, plural: FUNCTIONS }) as Promise<
        KubernetesListObject<UpdraftFunction>
      >,
    log,
  );
}
