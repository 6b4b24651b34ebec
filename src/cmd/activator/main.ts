/**
 * updraft-activator: wiring only. Config, logger, informers (Functions, EndpointSlices of
 * function Services), the function table, the invoke API, activity reports to the
 * autoscaler, metrics/health, drain on SIGTERM.
 */

import { hostname } from "node:os";
import {
  AppsV1Api,
  CoreV1Api,
  DiscoveryV1Api,
  type V1EndpointSlice,
  type V1Pod,
} from "@kubernetes/client-node";
import type { NatsConnection } from "@nats-io/transport-node";
import { Counter } from "prom-client";
import { ActivationNotifier } from "../../activator/activation.ts";
import { InstanceAnnouncements } from "../../activator/announce.ts";
import { kubePodReader, relayToPeers } from "../../activator/announce-io.ts";
import {
  autoscalerClient,
  connectQueue,
  readFrontProxyTrust,
  readyzProbe,
} from "../../activator/cluster-io.ts";
import { CodeStore } from "../../activator/code-store.ts";
import { parseActivatorConfig } from "../../activator/config.ts";
import { FunctionMetrics } from "../../activator/function-metrics.ts";
import { HttpRoutes } from "../../activator/http-trigger.ts";
import { KeptLogs } from "../../activator/kept-logs.ts";
import { WarmPool } from "../../activator/pool.ts";
import { kubeAdopter, specialiseOverHttp } from "../../activator/pool-io.ts";
import { Replicas } from "../../activator/replicas.ts";
import { ActivatorServer, activatorMetrics } from "../../activator/server.ts";
import { FunctionTable } from "../../activator/table.ts";
import type { ResolvedFunctionSpec } from "../../api/v1alpha1.ts";
import { Dispatcher } from "../../async/dispatcher.ts";
import { AsyncMetrics } from "../../async/metrics.ts";
import { AsyncQueue } from "../../async/queue.ts";
import { RequestAuthorizer } from "../../lib/auth.ts";
import { kubeAccessReviewer, kubeTokenReviewer } from "../../lib/auth-io.ts";
import { ApiEventRecorder, kubeEventSink } from "../../lib/events.ts";
import { useUndiciFromNpm } from "../../lib/http-client.ts";
import {
  loadKubeConfig,
  makeFunctionInformer,
  makeResilientInformer,
  makeScopedInformer,
  makeTriggerInformer,
} from "../../lib/kube.ts";
import { makeLogger } from "../../lib/logger.ts";
import { waitForSecret, waitForSecretKey } from "../../lib/master-key.ts";
import { makeRegistry, serveOps } from "../../lib/metrics.ts";
import { fileToken } from "../../lib/token-file.ts";
import { AGGREGATED_TLS_SECRET } from "../../protocol/aggregated.ts";
import { INSTANCE_CHANNEL_PORT } from "../../protocol/instance-channel.ts";
import {
  functionKey,
  MASTER_KEY_FIELD,
  MASTER_KEY_SECRET,
  poolKey,
  relayKey,
} from "../../protocol/instance-key.ts";
import { POOL_LABEL } from "../../protocol/pool.ts";

async function main(): Promise<void> {
  useUndiciFromNpm();
  const cfg = parseActivatorConfig(process.env);
  const ownNamespace = cfg.namespace;
  const apiPort = cfg.apiPort;
  const log = makeLogger("activator", cfg.logLevel);
  const kc = loadKubeConfig();
  const registry = makeRegistry("activator");

  // The autoscaler takes reports only from the activators' ServiceAccount.
  const autoscaler = autoscalerClient(cfg.autoscalerUrl, fileToken(cfg.tokenFile));
  const activation = new ActivationNotifier({
    send: (namespace, name) => autoscaler.activate(namespace, name),
    onError: (key, err) => log.warn("activate failed", { function: key, err: String(err) }),
  });
  // The activator replicas share concurrency.max: each takes its part of it, by its place
  // among the ready replicas (from the activator Service's EndpointSlices).
  const myIP = cfg.podIP;
  const peers = makeResilientInformer<V1EndpointSlice>(
    kc,
    `/apis/discovery.k8s.io/v1/namespaces/${ownNamespace}/endpointslices`,
    () =>
      discovery.listNamespacedEndpointSlice({
        namespace: ownNamespace,
        labelSelector: "kubernetes.io/service-name=updraft-activator",
      }),
    log,
    "kubernetes.io/service-name=updraft-activator",
  );
  const replicas = new Replicas(myIP);
  // A function with concurrency.max is admitted by one replica, its owner: the others send
  // it their requests, and only it consumes the function's async events.
  const ownerUrl = (key: string): string | undefined => {
    const owner = replicas.owner(key);
    return owner === undefined || owner === myIP ? undefined : `http://${owner}:${apiPort}`;
  };
  // Warm pools (docs/warm-pool.md): the pool pods of each namespace that has them.
  const poolNamespaces = cfg.warmPoolNamespaces;
  const core = kc.makeApiClient(CoreV1Api);
  // Calls to instances carry their function's key, derived from the master key the
  // controller keeps in Updraft's namespace (protocol/instance-key.ts); until it exists
  // (a first install, the controller starting beside us) there is nothing to serve.
  const master = await waitForSecretKey(
    core,
    { namespace: ownNamespace, name: MASTER_KEY_SECRET, field: MASTER_KEY_FIELD },
    300_000,
  );
  const instanceKeys = {
    function: (namespace: string, name: string) => functionKey(master, namespace, name),
    pool: (namespace: string) => poolKey(master, namespace),
  };
  const pool = new WarmPool({
    specialise: specialiseOverHttp(8080),
    instanceKeys,
    adopt: kubeAdopter(core, kc.makeApiClient(AppsV1Api)),
    onError: (what, err) => log.warn("warm pool", { what, err: String(err) }),
  });
  const poolPods = poolNamespaces.map((namespace) => {
    const informer = makeResilientInformer<V1Pod>(
      kc,
      `/api/v1/namespaces/${namespace}/pods`,
      () => core.listNamespacedPod({ namespace, labelSelector: POOL_LABEL }),
      log,
      POOL_LABEL,
    );
    informer.onChange(() => pool.setPods(namespace, informer.list(namespace)));
    return informer;
  });
  // Per-function figures: counted as invocations end, the gauges read from the table.
  let functionMetrics: FunctionMetrics | undefined;
  let asyncMetrics: AsyncMetrics | undefined;
  const table: FunctionTable = new FunctionTable({
    onFunctionGone: (namespace, name) => {
      functionMetrics?.forget(namespace, name);
      asyncMetrics?.forget(namespace, name);
    },
    place: () => replicas.place(),
    // An announced instance must answer as its pod (activator/announce.ts).
    probe: readyzProbe(8080),
    // The owner holds the whole limit (see ownerUrl).
    maxShare: (max) => max,
    maxWaiting: cfg.limits.maxWaiting,
    maxWaitingTotal: cfg.limits.maxWaitingTotal,
    // Scale from zero now, not at the next autoscaler tick (ActivationNotifier).
    onColdRequest: (namespace, name) => activation.coldRequest(namespace, name),
    ...(poolNamespaces.length > 0
      ? {
          claimPoolInstance: async (namespace: string, name: string, spec: ResolvedFunctionSpec) => {
            const fn = functions.get(name, namespace);
            return fn ? pool.claim(fn, spec) : undefined;
          },
        }
      : {}),
  });

  const discovery = kc.makeApiClient(DiscoveryV1Api);
  const functions = makeFunctionInformer(kc, log, cfg.scope);
  const slices = makeScopedInformer<V1EndpointSlice>(
    kc,
    cfg.scope,
    {
      clusterPath: "/apis/discovery.k8s.io/v1/endpointslices",
      namespacedPath: (ns) => `/apis/discovery.k8s.io/v1/namespaces/${ns}/endpointslices`,
      listAll: () => discovery.listEndpointSliceForAllNamespaces({ labelSelector: "updraft.dev/function" }),
      listIn: (namespace) =>
        discovery.listNamespacedEndpointSlice({ namespace, labelSelector: "updraft.dev/function" }),
    },
    log,
    "updraft.dev/function",
  );
  // HTTP triggers: their routes follow the Trigger informer.
  const routes = new HttpRoutes();
  const triggers = makeTriggerInformer(kc, log, cfg.scope);
  let dispatcher: Dispatcher | undefined;
  /** Whether this replica consumes a function's async events: all but those another one owns. */
  const consumes = (st: { key: string; spec: { concurrency: { max?: number } } }) =>
    st.spec.concurrency.max === undefined || replicas.owns(st.key);
  functions.onChange(() => {
    table.setFunctions(functions.list());
    activation.retain(new Set(functions.list().map((f) => `${f.metadata?.namespace}/${f.metadata?.name}`)));
    dispatcher?.sync(table.all(), consumes);
  });
  // Each slice event touches only its function (setEndpointSlices rebuilds all: start only).
  slices.onChange((slice, type) => table.applyEndpointSlice(slice, type === "delete"));
  // Replicas came or went: owners may have moved, and with them the async consumers.
  peers.onChange(() => {
    replicas.setSlices(peers.list());
    dispatcher?.sync(table.all(), consumes);
  });
  triggers.onChange(() => routes.setTriggers(triggers.list()));
  await Promise.all([
    functions.start(),
    slices.start(),
    peers.start(),
    triggers.start(),
    ...poolPods.map((i) => i.start()),
  ]);
  replicas.setSlices(peers.list());
  table.setFunctions(functions.list());
  table.setEndpointSlices(slices.list());
  routes.setTriggers(triggers.list());

  const server = new ActivatorServer(
    table,
    routes,
    log,
    activatorMetrics(registry),
    { maxBufferedBytes: cfg.limits.maxBufferedBytes, bodyTimeoutMs: cfg.limits.bodyTimeoutMs },
    ownerUrl,
    {
      instanceKey: (key) => {
        const [namespace, name] = key.split("/") as [string, string];
        return instanceKeys.function(namespace, name);
      },
      channelPort: INSTANCE_CHANNEL_PORT,
    },
  );
  const authDecisions = new Counter({
    name: "updraft_activator_auth_reviews_total",
    help: "Reviews asked of the API server for invoke API callers (token, access), the rest answered from cache",
    labelNames: ["review"],
    registers: [registry],
  });
  if (cfg.httpNamespaceDomain) server.httpNamespaceDomain = cfg.httpNamespaceDomain;
  server.functionKey = instanceKeys.function;
  if (cfg.codeStore) {
    const store = new CodeStore(cfg.codeStore);
    // The bucket is made beside the start (a store that is down does not hold it up; the
    // first upload tries again).
    void store.ready().catch((err: unknown) => log.warn("code store", { err: String(err) }));
    server.codeStore = store;
  }
  // Requests one activator relays to another carry a key only activators can make.
  const relayProof = relayKey(master);
  functionMetrics = new FunctionMetrics(registry, {
    *functions() {
      for (const st of table.all()) {
        const [namespace, fn] = st.key.split("/") as [string, string];
        yield {
          namespace,
          function: fn,
          readyInstances: st.instances.length,
          startingInstances: table.startingCount(st.key),
          running: st.inFlight,
          waiting: Math.max(0, st.held - st.inFlight),
        };
      }
    },
  });
  server.functionMetrics = functionMetrics;
  // The async queue's figures: the backlog of each function this replica consumes.
  asyncMetrics = new AsyncMetrics(registry, {
    backlogs: async () => {
      const q = server.queue;
      const d = dispatcher;
      if (!q || !d) return [];
      const now = Date.now();
      const out = [];
      // Bounded: a scrape reads at most 500 functions' consumers.
      for (const key of d.consumed().slice(0, 500)) {
        const [namespace, fn] = key.split("/") as [string, string];
        const b = await q.backlog(namespace, fn, now).catch(() => undefined);
        if (b) out.push({ namespace, function: fn, ...b });
      }
      return out;
    },
  });
  server.relayProof = relayProof;
  server.events = new ApiEventRecorder(kubeEventSink(kc), "updraft-activator", log, () => new Date());
  if (cfg.authMode === "Kubernetes") {
    const tokens = kubeTokenReviewer(kc);
    const access = kubeAccessReviewer(kc);
    server.authorizer = new RequestAuthorizer(
      {
        review: (token) => {
          authDecisions.inc({ review: "token" });
          return tokens.review(token);
        },
      },
      {
        review: (user, request) => {
          authDecisions.inc({ review: "access" });
          return access.review(user, request);
        },
      },
    );
  }
  log.info("invoke API authorization", { mode: cfg.authMode });
  // Starting instances announce themselves (activator/announce.ts): checked against the API
  // server, then passed on to the other replicas.
  const announcements = new Counter({
    name: "updraft_activator_instance_announcements_total",
    help: "Announcements of starting instances, by outcome (accepted, refused, invalid)",
    labelNames: ["outcome"],
    registers: [registry],
  });
  server.instances = new InstanceAnnouncements({
    readPod: kubePodReader(core),
    announce: (key, ip, uid) => table.announce(key, ip, uid),
    relay: relayToPeers(
      () => replicas.list(),
      myIP,
      apiPort,
      relayProof,
      (peer, err) => log.debug("passing an announcement on failed", { peer, err: String(err) }),
    ),
    count: (outcome) => announcements.inc({ outcome }),
  });
  await server.listen(apiPort);
  if (cfg.aggregatedPort > 0) {
    // The invoke API as an aggregated API (the chart's APIService): only the API server's
    // front-proxy certificate is let in, as the cluster's requestheader settings say; the
    // serving certificate is the one the controller made and the APIService trusts.
    const { clientCA, trust } = await readFrontProxyTrust(core);
    const tlsRef = { namespace: ownNamespace, name: AGGREGATED_TLS_SECRET };
    const tls = await waitForSecret(core, tlsRef, ["tls.key", "tls.crt"], 300_000);
    const key = tls["tls.key"]!.toString();
    const cert = tls["tls.crt"]!.toString();
    await server.listenAggregated(cfg.aggregatedPort, { key, cert, clientCA, trust });
    log.info("aggregated API served", { port: cfg.aggregatedPort, allowedNames: trust.allowedNames });
  }
  const ops = await serveOps(registry, cfg.metricsPort, () => !server.draining);

  // Traffic report to the autoscaler every second: what keeps a busy function from going to zero.
  const report = setInterval(() => {
    const items = [...table.all()].map((s) => ({ key: s.key, ...table.takeActivity(s) }));
    autoscaler.report({ activator: myIP || hostname(), items }).catch(() => undefined);
  }, 1000);
  log.info("started", { apiPort, metricsPort: cfg.metricsPort, autoscalerUrl: cfg.autoscalerUrl });

  // The async queue: connected in the background, so sync invocations never wait for NATS;
  // until it is, async calls get 503 QueueUnavailable.
  let nc: NatsConnection | undefined;
  const queueReady = async (conn: NatsConnection) => {
    nc = conn;
    const queue = await AsyncQueue.open(conn, cfg.queue);
    server.queue = queue;
    if (cfg.keptLogs.maxAgeSeconds > 0) server.keptLogs = await KeptLogs.open(conn, cfg.keptLogs);
    dispatcher = new Dispatcher(queue, server, cfg.dispatcher, log);
    dispatcher.figures = asyncMetrics;
    dispatcher.sync(table.all(), consumes);
    void dispatcher
      .sweep(table.all())
      .catch((err: unknown) => log.warn("sweeping old queues failed", { err: String(err) }));
    log.info("async queue connected", { natsUrl: cfg.nats.url });
  };
  void connectQueue({ ...cfg.nats, name: myIP || hostname() }, queueReady, log).catch((err: unknown) =>
    log.error("async queue unavailable", { err: String(err) }),
  );

  const stop = async () => {
    // Readiness fails at once; requests keep being served (closing their connections) for
    // as long as it takes every node to drop this endpoint, and at least while the
    // dispatcher finishes its events. Then new requests are refused and those in flight end.
    log.info("draining: readiness off, answers close their connections");
    server.beginDrain();
    await Promise.all([dispatcher?.drain(25_000), new Promise((r) => setTimeout(r, cfg.drainPropagationMs))]);
    clearInterval(report);
    await server.drain(30_000);
    log.info("drained: no request in flight, listener closed");
    server.keptLogs?.stopBatching();
    await nc?.drain().catch(() => undefined);
    await Promise.all([
      functions.stop(),
      slices.stop(),
      peers.stop(),
      triggers.stop(),
      ...poolPods.map((i) => i.stop()),
    ]);
    ops.close();
    process.exit(0);
  };
  process.on("SIGTERM", () => void stop());
  process.on("SIGINT", () => void stop());
}

main().catch((err: unknown) => {
  console.error(`updraft-activator: ${err instanceof Error ? err.message : String(err)}`);
  process.exit(1);
});
