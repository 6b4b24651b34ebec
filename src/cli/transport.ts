/**
 * How the CLI reaches Updraft. The invoke API: with $UPDRAFT_URL (the activator; `make -s
 * cluster-env` sets it), there, with a Kubernetes bearer token ($UPDRAFT_TOKEN, else the
 * kubeconfig user's token); without it, through the kubeconfig's API server (the invoke API
 * as an aggregated API), with whatever credential the kubeconfig holds — a client
 * certificate too. Functions and Triggers: the kubeconfig's API server, as kubectl.
 */
import { request as httpRequest } from "node:http";
import { request as httpsRequest, type RequestOptions } from "node:https";
import { KubeConfig } from "@kubernetes/client-node";
import { fetch } from "undici";
import { AGGREGATED_PREFIX } from "../protocol/aggregated.ts";
import type { KeptInvocation } from "../protocol/kept-logs.ts";

export interface Answer {
  status: number;
  text: string;
  header(name: string): string | null;
}

/** One call of the invoke API, `path` as /v1/…: to $UPDRAFT_URL, or through the API server. */
export type Call = (
  method: string,
  path: string,
  headers: Record<string, string>,
  body?: Buffer,
) => Promise<Answer>;

export function loadKubeConfig(): KubeConfig | undefined {
  try {
    const kc = new KubeConfig();
    kc.loadFromDefault();
    return kc.getCurrentCluster() ? kc : undefined;
  } catch {
    return undefined;
  }
}

/** The kubeconfig, or undefined once the reason is printed (the command then exits 2). */
export function requireKubeConfig(): KubeConfig | undefined {
  const kc = loadKubeConfig();
  if (!kc) console.error("updraft: no kubeconfig (KUBECONFIG or ~/.kube/config)");
  return kc;
}

/** The namespace to use: -n, else the kubeconfig context's, else default. */
export function namespaceOf(flag: string | undefined, kc: KubeConfig | undefined): string {
  if (flag) return flag;
  return kc?.getContextObject(kc.getCurrentContext())?.namespace ?? "default";
}

/** The Authorization header for the activator, when there is a token to send. */
async function bearer(kc: KubeConfig | undefined): Promise<Record<string, string>> {
  if (process.env.UPDRAFT_TOKEN) return { authorization: `Bearer ${process.env.UPDRAFT_TOKEN}` };
  if (!kc) return {};
  const opts: { headers?: Record<string, unknown> } = { headers: {} };
  await kc.applyToHTTPSOptions(opts);
  const header = opts.headers?.Authorization ?? opts.headers?.authorization;
  return typeof header === "string" && /^Bearer /i.test(header) ? { authorization: header } : {};
}

function direct(base: string, kc: KubeConfig | undefined): Call {
  return async (method, path, headers, body) => {
    const res = await fetch(`${base}${path}`, {
      method,
      headers: { ...headers, ...(await bearer(kc)) },
      ...(body ? { body } : {}),
    });
    return { status: res.status, text: await res.text(), header: (n) => res.headers.get(n) };
  };
}

/** Through the API server: /v1/namespaces/… becomes /apis/invoke.updraft.dev/v1alpha1/namespaces/…. */
function viaApiServer(kc: KubeConfig): Call {
  return async (method, path, headers, body) => {
    const server = new URL(kc.getCurrentCluster()!.server);
    const opts: RequestOptions = {
      method,
      host: server.hostname,
      port: server.port || (server.protocol === "https:" ? 443 : 80),
      path: `${server.pathname.replace(/\/$/, "")}${AGGREGATED_PREFIX}${path.slice("/v1".length)}`,
      headers: { ...headers },
    };
    // The kubeconfig's credential: its client certificate, its token or exec plugin, its CA.
    await kc.applyToHTTPSOptions(opts);
    return new Promise<Answer>((resolve, reject) => {
      const req = (server.protocol === "https:" ? httpsRequest : httpRequest)(opts, (res) => {
        const chunks: Buffer[] = [];
        res.on("data", (c: Buffer) => chunks.push(c));
        res.on("end", () => {
          const h = res.headers;
          resolve({
            status: res.statusCode ?? 0,
            text: Buffer.concat(chunks).toString(),
            header: (n) => {
              const v = h[n.toLowerCase()];
              return v === undefined ? null : Array.isArray(v) ? v.join(", ") : v;
            },
          });
        });
        res.on("error", reject);
      });
      req.on("error", reject);
      req.end(body);
    });
  };
}

export function caller(kc: KubeConfig | undefined): Call | undefined {
  const base = process.env.UPDRAFT_URL?.replace(/\/$/, "");
  if (base) return direct(base, kc);
  if (kc) return viaApiServer(kc);
  console.error("updraft: no kubeconfig and no UPDRAFT_URL: nowhere to call");
  return undefined;
}

/** What to do about a 401 from the activator: it takes tokens, and the kubeconfig may hold a certificate. */
export function explainUnauthenticated(status: number): void {
  if (status !== 401 || !process.env.UPDRAFT_URL) return;
  console.error(
    "updraft: the activator takes a Kubernetes bearer token: set UPDRAFT_TOKEN, or unset UPDRAFT_URL to " +
      "call through the API server with the kubeconfig's credential",
  );
}

/**
 * A function's kept invocations (their summaries and logs), oldest first, through the invoke
 * API; or why they could not be read.
 */
export async function keptInvocations(
  kc: KubeConfig | undefined,
  namespace: string,
  fn: string,
  opts: { requestId?: string; sinceSeconds?: number; limit?: number } = {},
): Promise<KeptInvocation[] | { error: string }> {
  const call = caller(kc);
  if (!call) return { error: "nowhere to call" };
  const q = new URLSearchParams({ function: fn });
  if (opts.requestId) q.set("requestId", opts.requestId);
  if (opts.sinceSeconds !== undefined) q.set("sinceSeconds", String(opts.sinceSeconds));
  if (opts.limit !== undefined) q.set("limit", String(opts.limit));
  const res = await call("GET", `/v1/namespaces/${namespace}/invocations?${q}`, {}).catch(
    (err: unknown) => ({ status: 0, text: String(err), header: () => null }) as Answer,
  );
  if (res.status !== 200) {
    explainUnauthenticated(res.status);
    let why = res.text.trim();
    try {
      why = (JSON.parse(res.text) as { errorMessage?: string; message?: string }).errorMessage ?? why;
    } catch {
      // not JSON: as it came
    }
    return { error: `${res.status || "no answer"}: ${why.slice(0, 300)}` };
  }
  // An activator of the version before batched kept logs answers a batch as one item, an
  // array (while an upgrade rolls): its invocations all the same.
  return (JSON.parse(res.text) as { items: Array<KeptInvocation | KeptInvocation[]> }).items.flat();
}
