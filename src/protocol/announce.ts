/**
 * Instance announcements, shared by the runtime shim (which sends one) and the activator
 * (which checks it). Imports nothing the runtime image does not hold.
 */
import { isIP } from "node:net";
import type { V1EnvVar } from "@kubernetes/client-node";

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
