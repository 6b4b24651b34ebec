/**
 * The controller: informers for Functions, Triggers and the Functions' children feed two
 * rate-limited work queues (informer callbacks only enqueue keys); workers run the
 * reconcilers. A periodic resync re-enqueues every object, which finds drift and, on a
 * converged cluster, writes nothing.
 */

import {
  AppsV1Api,
  CoreV1Api,
  type KubeConfig,
  type KubernetesListObject,
  type KubernetesObject,
  type V1ConfigMap,
  type V1Deployment,
  type V1Pod,
  type V1Service,
} from "@kubernetes/client-node";
import { Counter, Gauge, Histogram, type Registry } from "prom-client";
import { Labels, type UpdraftFunction, type UpdraftTrigger } from "../api/v1alpha1.ts";
import { errorMessage, isNamespaceTerminating, isPermanent } from "../lib/errors.ts";
import { ApiEventRecorder } from "../lib/events.ts";
import {
  keyOf,
  makeFunctionInformer,
  makeScopedInformer,
  makeTriggerInformer,
  type ResilientInformer,
} from "../lib/kube.ts";
import type { Logger } from "../lib/logger.ts";
import { runWorkers, WorkQueue } from "../lib/workqueue.ts";
import { POOL_LABEL } from "../protocol/pool.ts";
import { KubeControllerApi } from "./api.ts";
import type { BuilderConfig } from "./builders.ts";
import type { ControllerConfig } from "./config.ts";
import { FunctionReconciler } from "./function-reconciler.ts";
import { InstancePolicies } from "./network-policy.ts";
import { PoolReconciler } from "./pool-reconciler.ts";
import { TriggerReconciler } from "./trigger-reconciler.ts";

/**
 * Errors a reconcile is not retried for: permanent ones (a malformed spec), and a namespace
 * being deleted, where nothing can be created and the object goes with it.
 */
const notRetried = (err: unknown): boolean => isPermanent(err) || isNamespaceTerminating(err);

export class Controller {
  private readonly functions: ResilientInformer<UpdraftFunction>;
  private readonly triggers: ResilientInformer<UpdraftTrigger>;
  private readonly deployments: ResilientInformer<V1Deployment>;
  private readonly services: ResilientInformer<V1Service>;
  private readonly configMaps: ResilientInformer<V1ConfigMap>;
  private readonly pods: ResilientInformer<V1Pod>;
  private readonly adapterDeployments: ResilientInformer<V1Deployment>;
  private readonly adapterServices: ResilientInformer<V1Service>;
  private readonly poolDeployments: ResilientInformer<V1Deployment>;
  private readonly poolReconciler: PoolReconciler;
  private readonly poolQueue = new WorkQueue();
  private readonly fnQueue = new WorkQueue();
  private readonly trigQueue = new WorkQueue();
  private readonly fnReconciler: FunctionReconciler;
  private readonly trigReconciler: TriggerReconciler;
  private resyncTimer: NodeJS.Timeout | undefined;
  private workers: Promise<unknown> | undefined;
  private synced = false;
  private readonly reconciles: Counter<"kind" | "result">;
  private readonly duration: Histogram<"kind">;

  private readonly cfg: ControllerConfig;
  private readonly log: Logger;

  constructor(
    kc: KubeConfig,
    cfg: ControllerConfig,
    log: Logger,
    registry: Registry,
    instanceKeys?: BuilderConfig["instanceKeys"],
  ) {
    this.cfg = cfg;
    this.log = log;
    const apps = kc.makeApiClient(AppsV1Api);
    const core = kc.makeApiClient(CoreV1Api);
    const owned = `${Labels.function},${Labels.managedBy}=updraft`;
    // Updraft's own children of one kind, by label, in the namespaces it serves: the API's
    // path (group and plural) and the client's two list calls. Example:
    // labelled("/api/v1", "pods", …)("updraft.dev/function") watches /api/v1/pods (or
    // /api/v1/namespaces/{ns}/pods in each namespace of the scope) with that selector.
    const scope = cfg.scope;
    const labelled =
      <T extends KubernetesObject>(
        group: string,
        plural: string,
        listAll: (q: { labelSelector: string }) => Promise<KubernetesListObject<T>>,
        listIn: (q: { namespace: string; labelSelector: string }) => Promise<KubernetesListObject<T>>,
      ) =>
      (selector: string) =>
        makeScopedInformer<T>(
          kc,
          scope,
          {
            clusterPath: `${group}/${plural}`,
            namespacedPath: (ns) => `${group}/namespaces/${ns}/${plural}`,
            listAll: () => listAll({ labelSelector: selector }),
            listIn: (namespace) => listIn({ namespace, labelSelector: selector }),
          },
          log,
          selector,
        );
    const deploymentsLabelled = labelled<V1Deployment>(
      "/apis/apps/v1",
      "deployments",
      (q) => apps.listDeploymentForAllNamespaces(q),
      (q) => apps.listNamespacedDeployment(q),
    );
    const servicesLabelled = labelled<V1Service>(
      "/api/v1",
      "services",
      (q) => core.listServiceForAllNamespaces(q),
      (q) => core.listNamespacedService(q),
    );
    const configMapsLabelled = labelled<V1ConfigMap>(
      "/api/v1",
      "configmaps",
      (q) => core.listConfigMapForAllNamespaces(q),
      (q) => core.listNamespacedConfigMap(q),
    );
    const podsLabelled = labelled<V1Pod>(
      "/api/v1",
      "pods",
      (q) => core.listPodForAllNamespaces(q),
      (q) => core.listNamespacedPod(q),
    );
    this.functions = makeFunctionInformer(kc, log, scope);
    this.triggers = makeTriggerInformer(kc, log, scope);
    this.deployments = deploymentsLabelled(owned);
    this.services = servicesLabelled(owned);
    this.configMaps = configMapsLabelled(owned);
    // Function pods, read only: why an instance does not start (InstancesHealthy).
    this.pods = podsLabelled(`${Labels.function},${Labels.component}=function,${Labels.managedBy}=updraft`);

    // Trigger adapters' children carry the trigger label instead of the function label.
    const adapters = `${Labels.trigger},${Labels.managedBy}=updraft`;
    this.adapterDeployments = deploymentsLabelled(adapters);
    this.adapterServices = servicesLabelled(adapters);

    // Warm pools' Deployments carry the pool label (docs/warm-pool.md).
    const pools = `${POOL_LABEL},${Labels.managedBy}=updraft`;
    this.poolDeployments = deploymentsLabelled(pools);

    const writes = new Counter({
      name: "updraft_controller_api_writes_total",
      help: "Writes the controller made to the Kubernetes API, by verb and resource",
      labelNames: ["verb", "resource"],
      registers: [registry],
    });
    this.reconciles = new Counter({
      name: "updraft_controller_reconciles_total",
      help: "Reconciles run, by kind and result",
      labelNames: ["kind", "result"],
      registers: [registry],
    });
    this.duration = new Histogram({
      name: "updraft_controller_reconcile_seconds",
      help: "Time a reconcile took",
      labelNames: ["kind"],
      buckets: [0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5],
      registers: [registry],
    });
    const depth = new Gauge({
      name: "updraft_controller_queue_depth",
      help: "Keys waiting in the work queue",
      labelNames: ["kind"],
      registers: [registry],
      collect: () => {
        depth.set({ kind: "function" }, this.fnQueue.length);
        depth.set({ kind: "trigger" }, this.trigQueue.length);
      },
    });

    const api = new KubeControllerApi(kc, writes);
    // Function pods and pool pods run the same runtime images.
    const builderCfg: BuilderConfig = {
      runtimeImage: (runtime: string) => `${cfg.runtimeImagePrefix}${runtime}:${cfg.runtimeImageTag}`,
      activatorUrl: cfg.activatorUrl,
      codeStore: cfg.codeStore,
      ...(instanceKeys ? { instanceKeys } : {}),
    };
    const now = () => new Date();
    const events = new ApiEventRecorder(api, "updraft-controller", log, now);
    const instancePolicies = cfg.networkPolicies ? new InstancePolicies(api, cfg.leaseNamespace) : undefined;
    this.fnReconciler = new FunctionReconciler({
      functions: this.functions,
      deployments: this.deployments,
      services: this.services,
      codeConfigMaps: this.configMaps,
      pods: this.pods,
      api,
      events,
      cfg: builderCfg,
      now,
      log,
      ...(instancePolicies ? { instancePolicies } : {}),
    });
    this.trigReconciler = new TriggerReconciler({
      triggers: this.triggers,
      functions: this.functions,
      api,
      adapterDeployments: this.adapterDeployments,
      adapterServices: this.adapterServices,
      events,
      now,
      httpUrl: {
        activatorUrl: cfg.activatorUrl,
        ...(cfg.httpNamespaceDomain
          ? { namespaceDomain: cfg.httpNamespaceDomain, namespaceScheme: cfg.httpNamespaceScheme }
          : {}),
      },
      adapter: {
        image: cfg.adapterImage,
        imagePullPolicy: cfg.adapterImagePullPolicy,
        activatorUrl: cfg.activatorUrl,
        storageEventsUrl: cfg.storageEventsUrl,
        storeEndpoint: cfg.storeEndpoint,
        adapterClusterRole: cfg.adapterClusterRole,
        logLevel: cfg.adapterLogLevel,
      },
    });

    this.poolReconciler = new PoolReconciler({
      deployments: this.poolDeployments,
      api,
      cfg: builderCfg,
      pool: cfg.warmPool,
      log,
      ...(instancePolicies ? { instancePolicies } : {}),
    });

    // Informer callbacks only enqueue keys.
    this.poolDeployments.onChange((d) => {
      const key = PoolReconciler.keyOf(d);
      if (key) this.poolQueue.add(key);
    });
    this.functions.onChange((fn) => {
      this.fnQueue.add(keyOf(fn.metadata.namespace, fn.metadata.name));
      for (const t of this.triggers.list(fn.metadata.namespace)) {
        if (t.spec.function === fn.metadata.name)
          this.trigQueue.add(keyOf(t.metadata.namespace, t.metadata.name));
      }
    });
    this.triggers.onChange((t) => this.trigQueue.add(keyOf(t.metadata.namespace, t.metadata.name)));
    const enqueueOwner = (obj: { metadata?: { namespace?: string; labels?: Record<string, string> } }) => {
      const fn = obj.metadata?.labels?.[Labels.function];
      if (fn) this.fnQueue.add(keyOf(obj.metadata?.namespace, fn));
    };
    const enqueueTrigger = (obj: { metadata?: { namespace?: string; labels?: Record<string, string> } }) => {
      const t = obj.metadata?.labels?.[Labels.trigger];
      if (t) this.trigQueue.add(keyOf(obj.metadata?.namespace, t));
    };
    this.adapterDeployments.onChange(enqueueTrigger);
    this.adapterServices.onChange(enqueueTrigger);
    this.deployments.onChange(enqueueOwner);
    this.services.onChange(enqueueOwner);
    this.configMaps.onChange(enqueueOwner);
    this.pods.onChange(enqueueOwner);
  }

  get ready(): boolean {
    return this.synced;
  }

  /** Starts informers, waits for their caches, then runs the workers until stop(). */
  async start(): Promise<void> {
    await Promise.all([
      this.functions.start(),
      this.triggers.start(),
      this.deployments.start(),
      this.services.start(),
      this.configMaps.start(),
      this.pods.start(),
      this.adapterDeployments.start(),
      this.adapterServices.start(),
      this.poolDeployments.start(),
    ]);
    this.synced = true;
    this.log.info("caches synced", {
      functions: this.functions.list().length,
      triggers: this.triggers.list().length,
    });
    this.resync();
    this.resyncTimer = setInterval(() => this.resync(), this.cfg.resyncSeconds * 1000);
    const workers = Math.max(1, Math.floor(this.cfg.workers / 2));
    this.workers = Promise.all([
      runWorkers(
        this.fnQueue,
        this.cfg.workers,
        (k) => this.timed("function", k, this.fnReconciler),
        this.onError("function"),
        notRetried,
      ),
      runWorkers(
        this.trigQueue,
        workers,
        (k) => this.timed("trigger", k, this.trigReconciler),
        this.onError("trigger"),
        notRetried,
      ),
      runWorkers(
        this.poolQueue,
        1,
        (k) => this.timed("pool", k, this.poolReconciler),
        this.onError("pool"),
        notRetried,
      ),
    ]);
  }

  private resync(): void {
    for (const fn of this.functions.list()) this.fnQueue.add(keyOf(fn.metadata.namespace, fn.metadata.name));
    for (const t of this.triggers.list()) this.trigQueue.add(keyOf(t.metadata.namespace, t.metadata.name));
    // Pools the chart asks for (a missing one is created) and pools that exist (one the chart
    // no longer asks for is removed).
    for (const key of this.poolReconciler.desiredKeys()) this.poolQueue.add(key);
    for (const d of this.poolDeployments.list()) {
      const key = PoolReconciler.keyOf(d);
      if (key) this.poolQueue.add(key);
    }
  }

  private async timed(
    kind: string,
    key: string,
    r: { reconcile(key: string): Promise<{ requeueAfterMs?: number } | undefined> },
  ): Promise<{ requeueAfterMs?: number } | undefined> {
    const end = this.duration.startTimer({ kind });
    try {
      const result = await r.reconcile(key);
      this.reconciles.inc({ kind, result: "success" });
      return result;
    } catch (err) {
      this.reconciles.inc({ kind, result: "error" });
      throw err;
    } finally {
      end();
    }
  }

  private onError(kind: string) {
    return (key: string, err: unknown, retryInMs: number | undefined) => {
      const fields = { kind, key, retryInMs, err: errorMessage(err), code: (err as { code?: unknown }).code };
      if (isNamespaceTerminating(err)) this.log.info("namespace is being deleted; not retried", fields);
      else if (retryInMs === undefined) this.log.error("reconcile failed permanently", fields);
      else this.log.warn("reconcile failed; will retry", fields);
    };
  }

  /** Stops taking work, lets in-flight reconciles finish, stops the informers. */
  async stop(): Promise<void> {
    if (this.resyncTimer) clearInterval(this.resyncTimer);
    this.fnQueue.shutDown();
    this.trigQueue.shutDown();
    this.poolQueue.shutDown();
    await this.workers;
    await Promise.all([
      this.functions.stop(),
      this.triggers.stop(),
      this.deployments.stop(),
      this.services.stop(),
      this.configMaps.stop(),
      this.pods.stop(),
      this.adapterDeployments.stop(),
      this.adapterServices.stop(),
      this.poolDeployments.stop(),
    ]);
  }
}
