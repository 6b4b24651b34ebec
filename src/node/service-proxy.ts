/**
 * ClusterIP Services without iptables: each ClusterIP is added as a /32 on a port-less bridge
 * interface of the host, and a TCP listener on ClusterIP:port forwards each connection to
 * a ready endpoint (round robin) from the Service's EndpointSlices. Pods reach ClusterIPs
 * through their default route (the host bridge); host processes reach them directly.
 * Names resolve through each pod's hosts file, which the agent rewrites on every change.
 */
import { connect, createServer, type Server, type Socket } from "node:net";
import type { V1EndpointSlice, V1Service } from "@kubernetes/client-node";
import type { Logger } from "../lib/logger.ts";
import { sh, shQuiet } from "./sandbox.ts";

export const SERVICE_DEVICE = "updraft-svc";

/** hosts-file lines for the Services a pod in `namespace` can name. */
export function serviceHostsLines(
  services: readonly V1Service[],
  namespace: string,
  domain: string,
): string[] {
  const lines: string[] = [];
  for (const s of services) {
    const ip = s.spec?.clusterIP;
    if (!ip || ip === "None") continue;
    const name = s.metadata!.name!;
    const ns = s.metadata!.namespace!;
    const names = [`${name}.${ns}`, `${name}.${ns}.svc`, `${name}.${ns}.svc.${domain}`];
    if (ns === namespace) names.unshift(name);
    lines.push(`${ip}\t${names.join(" ")}`);
  }
  return lines.sort();
}

export interface Endpoint {
  ip: string;
  port: number;
}

/** Ready endpoints of one Service port, by the port's name, from its EndpointSlices. */
export function readyEndpoints(slices: readonly V1EndpointSlice[], portName: string): Endpoint[] {
  const out: Endpoint[] = [];
  for (const slice of slices) {
    const port = slice.ports?.find((p) => (p.name ?? "") === portName);
    if (!port?.port) continue;
    for (const e of slice.endpoints ?? []) {
      if (e.conditions?.ready === false || e.conditions?.terminating) continue;
      for (const ip of e.addresses ?? []) out.push({ ip, port: port.port });
    }
  }
  return out;
}

interface Listener {
  server: Server;
  next: number;
}

export class ServiceProxy {
  private readonly listeners = new Map<string, Listener>(); // "ip:port" → listener
  private readonly addresses = new Set<string>();
  private services: V1Service[] = [];
  private slices = new Map<string, V1EndpointSlice[]>(); // "ns/service" → slices
  private readonly log: Logger;

  constructor(log: Logger) {
    this.log = log;
  }

  async init(): Promise<void> {
    await shQuiet("ip", ["link", "add", SERVICE_DEVICE, "type", "bridge"]); // no dummy module here; a port-less bridge holds addresses as well
    await sh("ip", ["link", "set", SERVICE_DEVICE, "up"]);
    await shQuiet("ip", ["addr", "flush", "dev", SERVICE_DEVICE]);
  }

  async close(): Promise<void> {
    for (const l of this.listeners.values()) l.server.close();
    this.listeners.clear();
    await shQuiet("ip", ["link", "del", SERVICE_DEVICE]);
  }

  setEndpointSlices(all: readonly V1EndpointSlice[]): void {
    const by = new Map<string, V1EndpointSlice[]>();
    for (const s of all) {
      const svc = s.metadata?.labels?.["kubernetes.io/service-name"];
      if (!svc) continue;
      const key = `${s.metadata?.namespace}/${svc}`;
      by.set(key, [...(by.get(key) ?? []), s]);
    }
    this.slices = by;
  }

  /** Brings addresses and listeners in line with the Services. */
  async setServices(services: readonly V1Service[]): Promise<void> {
    this.services = [...services];
    const wanted = new Map<string, { svc: V1Service; portName: string }>();
    const wantedIPs = new Set<string>();
    for (const s of services) {
      const ip = s.spec?.clusterIP;
      if (!ip || ip === "None") continue;
      for (const p of s.spec?.ports ?? []) {
        if ((p.protocol ?? "TCP") !== "TCP") continue;
        wanted.set(`${ip}:${p.port}`, { svc: s, portName: p.name ?? "" });
        wantedIPs.add(ip);
      }
    }
    for (const ip of wantedIPs) {
      if (this.addresses.has(ip)) continue;
      await shQuiet("ip", ["addr", "add", `${ip}/32`, "dev", SERVICE_DEVICE]);
      this.addresses.add(ip);
    }
    for (const [key, l] of this.listeners) {
      if (!wanted.has(key)) {
        l.server.close();
        this.listeners.delete(key);
      }
    }
    for (const [key, { svc, portName }] of wanted) {
      if (this.listeners.has(key)) continue;
      const [ip, port] = key.split(":") as [string, string];
      const svcKey = `${svc.metadata?.namespace}/${svc.metadata?.name}`;
      const listener: Listener = {
        server: createServer((sock) => this.forward(sock, svcKey, portName, listener)),
        next: 0,
      };
      listener.server.on("error", (err) =>
        this.log.warn("service listener failed", { key, err: String(err) }),
      );
      listener.server.listen(Number(port), ip);
      this.listeners.set(key, listener);
    }
    for (const ip of [...this.addresses]) {
      if (wantedIPs.has(ip)) continue;
      await shQuiet("ip", ["addr", "del", `${ip}/32`, "dev", SERVICE_DEVICE]);
      this.addresses.delete(ip);
    }
  }

  private forward(client: Socket, svcKey: string, portName: string, l: Listener): void {
    const endpoints = readyEndpoints(this.slices.get(svcKey) ?? [], portName);
    if (endpoints.length === 0) {
      client.destroy(); // no ready endpoint: refuse, as kube-proxy does (REJECT)
      return;
    }
    const e = endpoints[l.next++ % endpoints.length]!;
    const upstream = connect({ host: e.ip, port: e.port });
    client.pipe(upstream).pipe(client);
    const end = () => {
      client.destroy();
      upstream.destroy();
    };
    client.on("error", end);
    upstream.on("error", end);
    client.on("close", end);
    upstream.on("close", end);
  }

  hostsLines(namespace: string, domain: string): string[] {
    return serviceHostsLines(this.services, namespace, domain);
  }
}
