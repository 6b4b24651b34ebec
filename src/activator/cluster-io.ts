/**
 * The activator's calls out to the rest of the cluster that are not a function's request:
 * its reports and wake-ups to the autoscaler, the readiness probe of a starting instance,
 * the API server's front-proxy settings for the aggregated API, and the async queue's NATS
 * connection. Each is small; what decides about their answers lives elsewhere (the
 * ActivationNotifier, the FunctionTable, front-proxy.ts, the Dispatcher).
 *
 * HTTP goes through undici from npm, never the global fetch (lib/http-client.ts: the
 * undici bundled in Node.js 24 can end the process).
 */
import type { CoreV1Api } from "@kubernetes/client-node";
import { connect, type NatsConnection } from "@nats-io/transport-node";
import { request } from "undici";
import { UpdraftError } from "../lib/errors.ts";
import type { Logger } from "../lib/logger.ts";
import { AutoscalerPaths } from "../protocol/activity.ts";
import { UpdraftHeaders } from "../protocol/headers.ts";
import type { FrontProxyTrust } from "./front-proxy.ts";

/** The autoscaler's API as the activator calls it, with the activator's own token. */
export interface AutoscalerClient {
  /** Scale a function from zero now; whether the autoscaler took it. */
  activate(namespace: string, name: string): Promise<boolean>;
  /** The last second's activity (protocol/activity.ts); a lost report is replaced by the next. */
  report(body: unknown): Promise<void>;
}

/**
 * `token()` is read on every call: the kubelet rotates the ServiceAccount token, and the
 * autoscaler takes reports only from the activators' identity (TokenReview).
 */
export function autoscalerClient(baseUrl: string, token: () => string | undefined): AutoscalerClient {
  const post = (path: string, body: unknown) => {
    const t = token();
    return request(`${baseUrl}${path}`, {
      method: "POST",
      headers: { "content-type": "application/json", ...(t ? { authorization: `Bearer ${t}` } : {}) },
      body: JSON.stringify(body),
      signal: AbortSignal.timeout(2000),
    });
  };
  return {
    activate: async (namespace, name) => {
      const r = await post(AutoscalerPaths.activate, { namespace, name });
      await r.body.dump();
      return r.statusCode >= 200 && r.statusCode < 300;
    },
    report: async (body) => {
      const r = await post(AutoscalerPaths.activity, body);
      await r.body.dump();
    },
  };
}

/**
 * Whether a starting instance's shim is ready (GET /readyz within 500 ms) — and, for an
 * announced one, answers as the pod it claims to be (its UID in x-updraft-pod-uid).
 */
export function readyzProbe(port: number): (ip: string, uid?: string) => Promise<boolean> {
  return async (ip, uid) => {
    try {
      const r = await request(`http://${ip}:${port}/readyz`, { signal: AbortSignal.timeout(500) });
      await r.body.dump();
      return (
        r.statusCode >= 200 &&
        r.statusCode < 300 &&
        (uid === undefined || r.headers[UpdraftHeaders.podUid] === uid)
      );
    } catch {
      return false;
    }
  };
}

/**
 * The API server's front-proxy settings (kube-system/extension-apiserver-authentication):
 * the CA its proxy certificate chains to, and the names that certificate may have.
 */
export async function readFrontProxyTrust(
  core: CoreV1Api,
): Promise<{ clientCA: string; trust: FrontProxyTrust }> {
  const auth = await core.readNamespacedConfigMap({
    namespace: "kube-system",
    name: "extension-apiserver-authentication",
  });
  const clientCA = auth.data?.["requestheader-client-ca-file"];
  if (!clientCA)
    throw new UpdraftError(
      "InvalidConfig",
      "UPDRAFT_AGGREGATED_PORT is set but the cluster has no requestheader-client-ca-file (kube-system/extension-apiserver-authentication): its API server serves no aggregated APIs",
    );
  const allowedNames = JSON.parse(auth.data?.["requestheader-allowed-names"] ?? "[]") as string[];
  return { clientCA, trust: { allowedNames } };
}

/**
 * Connects to NATS (retrying for ever: sync invocations never wait for it) and runs `setup`
 * on the connection until it succeeds, two seconds apart — a JetStream that is not ready
 * yet on a first install is the common case.
 */
export async function connectQueue(
  nats: { url: string; user: string; password: string; name: string },
  setup: (nc: NatsConnection) => Promise<void>,
  log: Logger,
): Promise<NatsConnection> {
  const nc = await connect({
    servers: nats.url,
    ...(nats.user ? { user: nats.user, pass: nats.password } : {}),
    waitOnFirstConnect: true,
    maxReconnectAttempts: -1,
    name: nats.name,
  });
  for (;;) {
    try {
      await setup(nc);
      return nc;
    } catch (err) {
      log.warn("async queue setup failed; retrying", { err: String(err) });
      await new Promise((r) => setTimeout(r, 2000));
    }
  }
}
