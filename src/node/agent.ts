/**
 * The node agent: registers a Node, keeps its Lease and status fresh, runs the pods bound
 * to it (one PodWorker each), reports their status, proxies ClusterIP Services, and
 * serves container logs on the kubelet port. In the spirit of virtual-kubelet.
 */
import { readdirSync, readFileSync } from "node:fs";
import { createServer, type Server } from "node:https";
import { cpus, hostname, totalmem } from "node:os";
import { join } from "node:path";
import {
  CoordinationV1Api,
  CoreV1Api,
  DiscoveryV1Api,
  type KubeConfig,
  PatchStrategy,
  setHeaderOptions,
  type V1EndpointSlice,
  type V1Node,
  type V1NodeCondition,
  type V1Pod,
  type V1PodStatus,
  type V1Service,
} from "@kubernetes/client-node";
import { semanticEqual } from "../lib/deep.ts";
import { errorMessage, isConflict, isNotFound } from "../lib/errors.ts";
import { makeResilientInformer, type ResilientInformer } from "../lib/kube.ts";
import type { Logger } from "../lib/logger.ts";
import type { NodeConfig } from "./config.ts";
import type { ImageEntry } from "./images.ts";
import { Ipam } from "./ipam.ts";
import { streamLog } from "./logs.ts";
import { PodWorker } from "./pod-worker.ts";
import { MEMORY_CGROUP_ROOT, removeCgroup, sh, shQuiet, unmountTree } from "./sandbox.ts";
import { ServiceProxy } from "./service-proxy.ts";

const mergePatch = setHeaderOptions("Content-Type", PatchStrategy.MergePatch);

export class NodeAgent {
  private readonly cfg: NodeConfig;
  private readonly log: Logger;
  private readonly core: CoreV1Api;
  private readonly leases: CoordinationV1Api;
  private readonly pods: ResilientInformer<V1Pod>;
  private readonly services: ResilientInformer<V1Service>;
  private readonly slices: ResilientInformer<V1EndpointSlice>;
  private readonly workers = new Map<string, PodWorker>(); // by pod UID
  private readonly proxy: ServiceProxy;
  private readonly ipam: Ipam;
  private readonly images: readonly ImageEntry[];
  private readonly lastStatus = new Map<string, V1PodStatus>();
  private readonly pendingStatus = new Map<string, { pod: V1Pod; status: V1PodStatus }>();
  private statusTimer: NodeJS.Timeout | undefined;
  private timers: NodeJS.Timeout[] = [];
  private kubelet: Server | undefined;
  private ready = false;
  private serviceSync: NodeJS.Timeout | undefined;

  constructor(kc: KubeConfig, cfg: NodeConfig, images: readonly ImageEntry[], log: Logger) {
    this.cfg = cfg;
    this.log = log;
    this.images = images;
    this.core = kc.makeApiClient(CoreV1Api);
    this.leases = kc.makeApiClient(CoordinationV1Api);
    const discovery = kc.makeApiClient(DiscoveryV1Api);
    const field = `spec.nodeName=${cfg.nodeName}`;
    this.pods = makeResilientInformer<V1Pod>(
      kc,
      "/api/v1/pods",
      () => this.core.listPodForAllNamespaces({ fieldSelector: field }),
      log,
      undefined,
      field,
    );
    this.services = makeResilientInformer<V1Service>(
      kc,
      "/api/v1/services",
      () => this.core.listServiceForAllNamespaces(),
      log,
    );
    this.slices = makeResilientInformer<V1EndpointSlice>(
      kc,
      "/apis/discovery.k8s.io/v1/endpointslices",
      () => discovery.listEndpointSliceForAllNamespaces(),
      log,
    );
    this.proxy = new ServiceProxy(log);
    this.ipam = new Ipam(cfg.podCidr, cfg.hostIP);
  }

  async start(): Promise<void> {
    await this.cleanupLeftovers();
    await shQuiet("ip", ["link", "add", this.cfg.bridge, "type", "bridge"]);
    await shQuiet("ip", ["addr", "add", `${this.cfg.hostIP}/${this.ipam.prefix}`, "dev", this.cfg.bridge]);
    await sh("ip", ["link", "set", this.cfg.bridge, "up"]);
    await this.proxy.init();
    await this.registerNode();
    await this.renewLease();
    this.every(this.cfg.leaseRenewSeconds * 1000, () => this.renewLease());
    this.every(this.cfg.statusUpdateSeconds * 1000, () => this.updateNodeStatus(true));
    this.kubelet = await this.serveKubeletApi();

    this.services.onChange(() => this.syncServicesSoon());
    this.slices.onChange(() => this.syncServicesSoon());
    await Promise.all([this.services.start(), this.slices.start()]);
    await this.syncServices();
    this.pods.onChange((pod, kind) => this.onPod(pod, kind));
    await this.pods.start();
    this.ready = true;
    this.log.info("node agent ready", { node: this.cfg.nodeName, hostIP: this.cfg.hostIP });
  }

  private every(ms: number, fn: () => Promise<void>): void {
    const t = setInterval(() => {
      fn().catch((err: unknown) => this.log.warn("periodic task failed", { err: errorMessage(err) }));
    }, ms);
    this.timers.push(t);
  }

  /**
   * A previous agent may have been killed: its pods' processes, network namespaces, veths,
   * mounts and cgroups are still here. Remove them all; the pods start again cleanly.
   */
  async cleanupLeftovers(): Promise<void> {
    const podsDir = join(this.cfg.stateDir, "pods");
    let leftovers: string[] = [];
    try {
      leftovers = readdirSync(podsDir);
    } catch {
      // nothing left behind
    }
    await removeCgroup(MEMORY_CGROUP_ROOT).catch(() => undefined);
    const netns = (await sh("ip", ["netns", "list"]).catch(() => ""))
      .split("\n")
      .map((l) => l.split(" ")[0] ?? "");
    for (const ns of netns) if (ns.startsWith("updraft-")) await shQuiet("ip", ["netns", "del", ns]);
    const links = await sh("ip", ["-o", "link", "show"]).catch(() => "");
    for (const m of links.matchAll(/^\d+: (uv[0-9a-f]{12})[@:]/gm))
      await shQuiet("ip", ["link", "del", m[1]!]);
    await unmountTree(podsDir);
    if (leftovers.length) this.log.info("removed pods left by an earlier agent", { count: leftovers.length });
  }

  private nodeConditions(ready: boolean, now: Date): V1NodeCondition[] {
    const c = (type: string, status: string, reason: string, message: string): V1NodeCondition => ({
      type,
      status,
      reason,
      message,
      lastHeartbeatTime: now,
      lastTransitionTime: now,
    });
    return [
      c("MemoryPressure", "False", "KubeletHasSufficientMemory", "kubelet has sufficient memory available"),
      c("DiskPressure", "False", "KubeletHasNoDiskPressure", "kubelet has no disk pressure"),
      c("PIDPressure", "False", "KubeletHasSufficientPID", "kubelet has sufficient PID available"),
      ready
        ? c("Ready", "True", "KubeletReady", "kubelet is posting ready status")
        : c("Ready", "False", "KubeletNotReady", "node agent stopped"),
    ];
  }

  private nodeStatus(ready: boolean): V1Node["status"] {
    const now = new Date();
    const capacity = {
      cpu: String(cpus().length),
      memory: `${Math.floor(totalmem() / 1024)}Ki`,
      pods: String(this.cfg.maxPods),
      "ephemeral-storage": "100Gi",
    };
    let bootID = "";
    let machineID = "";
    try {
      bootID = readFileSync("/proc/sys/kernel/random/boot_id", "utf8").trim();
      machineID = readFileSync("/etc/machine-id", "utf8").trim();
    } catch {
      // optional
    }
    return {
      capacity,
      allocatable: capacity,
      conditions: this.nodeConditions(ready, now),
      addresses: [
        { type: "InternalIP", address: this.cfg.hostIP },
        { type: "Hostname", address: this.cfg.nodeName },
      ],
      daemonEndpoints: { kubeletEndpoint: { Port: this.cfg.kubeletPort } },
      nodeInfo: {
        machineID,
        systemUUID: machineID,
        bootID,
        kernelVersion: readFileSync("/proc/sys/kernel/osrelease", "utf8").trim(),
        osImage: `updraft local node on ${hostname()}`,
        containerRuntimeVersion: "updraft://0.1.0",
        kubeletVersion: this.cfg.kubeletVersion,
        kubeProxyVersion: this.cfg.kubeletVersion,
        operatingSystem: "linux",
        architecture: process.arch === "x64" ? "amd64" : process.arch,
      },
    };
  }

  private async registerNode(): Promise<void> {
    const name = this.cfg.nodeName;
    try {
      await this.core.createNode({
        body: {
          metadata: {
            name,
            labels: {
              "kubernetes.io/hostname": name,
              "kubernetes.io/os": "linux",
              "kubernetes.io/arch": process.arch === "x64" ? "amd64" : process.arch,
              "node.kubernetes.io/instance-type": "updraft-local",
            },
          },
          spec: { podCIDR: this.cfg.podCidr, podCIDRs: [this.cfg.podCidr] },
        },
      });
      this.log.info("registered node", { node: name });
    } catch (err) {
      if (!isConflict(err)) throw err;
    }
    await this.updateNodeStatus(true);
  }

  async updateNodeStatus(ready: boolean): Promise<void> {
    await this.core.patchNodeStatus(
      { name: this.cfg.nodeName, body: { status: this.nodeStatus(ready) } },
      mergePatch,
    );
  }

  private async renewLease(): Promise<void> {
    const name = this.cfg.nodeName;
    const namespace = "kube-node-lease";
    const renewTime = new Date().toISOString().replace("Z", "000Z") as unknown as Date;
    try {
      const lease = await this.leases.readNamespacedLease({ name, namespace });
      lease.spec = { ...lease.spec, holderIdentity: name, leaseDurationSeconds: 40, renewTime };
      await this.leases.replaceNamespacedLease({ name, namespace, body: lease });
    } catch (err) {
      if (!isNotFound(err)) throw err;
      await this.leases.createNamespacedLease({
        namespace,
        body: {
          metadata: { name, namespace },
          spec: { holderIdentity: name, leaseDurationSeconds: 40, renewTime },
        },
      });
    }
  }

  private onPod(pod: V1Pod, kind: "add" | "update" | "delete"): void {
    const uid = pod.metadata!.uid!;
    const worker = this.workers.get(uid);
    if (kind === "delete") {
      // Force-deleted (or our own final delete): make sure nothing is left.
      if (worker) {
        this.workers.delete(uid);
        void worker.cleanup().catch((err: unknown) => this.log.warn("cleanup failed", { err: String(err) }));
      }
      return;
    }
    if (worker) {
      worker.update(pod);
      return;
    }
    const phase = pod.status?.phase;
    if (phase === "Succeeded" || phase === "Failed") {
      if (pod.metadata?.deletionTimestamp) void this.deletePod(pod);
      return;
    }
    const w = new PodWorker(pod, {
      nodeName: this.cfg.nodeName,
      hostIP: this.cfg.hostIP,
      bridge: this.cfg.bridge,
      podPrefix: this.ipam.prefix,
      apiServiceHost: this.cfg.apiServiceHost,
      apiServicePort: this.cfg.apiServicePort,
      clusterDomain: this.cfg.clusterDomain,
      stateDir: this.cfg.stateDir,
      enterScript: this.cfg.enterScript,
      images: this.images,
      restartBackoffBaseMs: this.cfg.restartBackoffBaseMs,
      volumeApi: {
        configMap: (namespace, name) =>
          this.core.readNamespacedConfigMap({ namespace, name }).catch(notFoundAsUndefined),
        secret: (namespace, name) =>
          this.core.readNamespacedSecret({ namespace, name }).catch(notFoundAsUndefined),
        token: async (p, sa, audience, expirationSeconds) => {
          const tr = await this.core.createNamespacedServiceAccountToken({
            name: sa,
            namespace: p.metadata!.namespace!,
            body: {
              spec: {
                audiences: audience ? [audience] : [],
                expirationSeconds,
                boundObjectRef: {
                  kind: "Pod",
                  apiVersion: "v1",
                  name: p.metadata!.name!,
                  uid: p.metadata!.uid!,
                },
              },
            },
          });
          return {
            token: tr.status?.token ?? "",
            expiresAt: new Date(tr.status?.expirationTimestamp ?? Date.now()),
          };
        },
      },
      allocateIP: (id) => this.ipam.allocate(id),
      releaseIP: (id) => this.ipam.release(id),
      hostsFile: (p, ip) => this.hostsFile(p, ip),
      reportStatus: (p, status) => this.queueStatus(p, status),
      deletePod: (p) => this.deletePod(p),
      log: this.log,
      now: () => new Date(),
    });
    this.workers.set(uid, w);
    if (pod.metadata?.deletionTimestamp) {
      void w.terminate();
      return;
    }
    w.start().catch((err: unknown) => {
      this.log.error("pod start failed", { pod: pod.metadata?.name, err: errorMessage(err) });
    });
  }

  private hostsFile(pod: V1Pod, podIP: string): string {
    return [
      "127.0.0.1\tlocalhost",
      "::1\tlocalhost ip6-localhost ip6-loopback",
      `${podIP}\t${pod.spec?.hostname ?? pod.metadata?.name}`,
      ...this.proxy.hostsLines(pod.metadata!.namespace!, this.cfg.clusterDomain),
      "",
    ].join("\n");
  }

  private syncServicesSoon(): void {
    if (this.serviceSync) return;
    this.serviceSync = setTimeout(() => {
      this.serviceSync = undefined;
      this.syncServices().catch((err: unknown) => this.log.warn("service sync failed", { err: String(err) }));
    }, 50);
  }

  private async syncServices(): Promise<void> {
    this.proxy.setEndpointSlices(this.slices.list());
    await this.proxy.setServices(this.services.list());
    for (const w of this.workers.values()) w.writeHosts();
  }

  /** Status writes are coalesced per pod and sent only when they changed. */
  private queueStatus(pod: V1Pod, status: V1PodStatus): void {
    this.pendingStatus.set(pod.metadata!.uid!, { pod, status });
    if (!this.statusTimer) {
      this.statusTimer = setTimeout(() => {
        this.statusTimer = undefined;
        void this.flushStatus();
      }, 20);
    }
  }

  private async flushStatus(): Promise<void> {
    const batch = [...this.pendingStatus.entries()];
    this.pendingStatus.clear();
    await Promise.all(
      batch.map(async ([uid, { pod, status }]) => {
        if (semanticEqual(this.lastStatus.get(uid), status)) return;
        try {
          await this.core.patchNamespacedPodStatus(
            { name: pod.metadata!.name!, namespace: pod.metadata!.namespace!, body: { status } },
            mergePatch,
          );
          this.lastStatus.set(uid, status);
        } catch (err) {
          if (!isNotFound(err)) {
            this.log.warn("pod status update failed", { pod: pod.metadata?.name, err: errorMessage(err) });
            this.queueStatus(pod, status);
          }
        }
      }),
    );
  }

  private async deletePod(pod: V1Pod): Promise<void> {
    this.lastStatus.delete(pod.metadata!.uid!);
    try {
      await this.core.deleteNamespacedPod({
        name: pod.metadata!.name!,
        namespace: pod.metadata!.namespace!,
        gracePeriodSeconds: 0,
        body: { gracePeriodSeconds: 0, preconditions: { uid: pod.metadata!.uid! } },
      });
    } catch (err) {
      if (!isNotFound(err) && !isConflict(err)) throw err;
    }
  }

  private serveKubeletApi(): Promise<Server> {
    const server = createServer(
      {
        cert: readFileSync(this.cfg.tlsCertFile),
        key: readFileSync(this.cfg.tlsKeyFile),
        ca: readFileSync(this.cfg.clientCaFile),
        // Only the apiserver (a client certificate of the cluster CA) may read logs.
        requestCert: true,
        rejectUnauthorized: true,
      },
      (req, res) => {
        const url = new URL(req.url ?? "/", "https://node");
        if (url.pathname === "/healthz") {
          res.end("ok");
          return;
        }
        const m = /^\/containerLogs\/([^/]+)\/([^/]+)\/([^/]+)$/.exec(url.pathname);
        if (req.method !== "GET" || !m) {
          res.writeHead(404).end("not found");
          return;
        }
        const [, ns, podName, container] = m as unknown as [string, string, string, string];
        const worker = [...this.workers.values()].find(
          (w) => w.pod.metadata?.namespace === ns && w.pod.metadata?.name === podName,
        );
        const previous = url.searchParams.get("previous") === "true";
        const file = worker?.logFile(container, previous);
        if (!file) {
          res
            .writeHead(404)
            .end(previous ? "previous terminated container not found" : "container not found");
          return;
        }
        streamLog(file, res, {
          follow: url.searchParams.get("follow") === "true",
          tailLines: url.searchParams.has("tailLines")
            ? Number(url.searchParams.get("tailLines"))
            : undefined,
          limitBytes: url.searchParams.has("limitBytes")
            ? Number(url.searchParams.get("limitBytes"))
            : undefined,
          stillRunning: () => !!worker && !worker.isTerminated,
        });
      },
    );
    return new Promise((resolve, reject) => {
      server.once("error", reject);
      server.listen(this.cfg.kubeletPort, this.cfg.hostIP, () => resolve(server));
    });
  }

  get isReady(): boolean {
    return this.ready;
  }

  /**
   * Stops the agent: pods' processes and sandboxes are removed (nothing outlives the
   * agent) and the Node is marked not ready.
   */
  async stop(): Promise<void> {
    this.ready = false;
    for (const t of this.timers) clearInterval(t);
    await Promise.all([this.pods.stop(), this.services.stop(), this.slices.stop()]);
    await Promise.all([...this.workers.values()].map((w) => w.cleanup().catch(() => undefined)));
    this.workers.clear();
    await this.updateNodeStatus(false).catch((err: unknown) =>
      this.log.warn("could not mark node not ready", { err: errorMessage(err) }),
    );
    this.kubelet?.close();
    await this.proxy.close();
    await this.cleanupLeftovers();
  }
}

function notFoundAsUndefined(err: unknown): undefined {
  if (isNotFound(err)) return undefined;
  throw err;
}
