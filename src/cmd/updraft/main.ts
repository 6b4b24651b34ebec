/**
 * updraft CLI.
 *   updraft invoke <function> [-n ns] [--data JSON | --file F] [--log] [--async]
 *   updraft invocation <request-id> [-n ns]
 * invoke prints the result, then the request id and durations (on stderr, so stdout stays
 * the function's JSON); with --async, the request id of the queued event. invocation prints
 * an async invocation's record. The namespace defaults to the kubeconfig context's.
 * Where it calls: with $UPDRAFT_URL (the activator; `make -s cluster-env` sets it), there,
 * with a Kubernetes bearer token ($UPDRAFT_TOKEN, else the kubeconfig user's token); without
 * it, through the kubeconfig's API server (the invoke API as an aggregated API), with
 * whatever credential the kubeconfig holds — a client certificate too.
 */
import { readFileSync } from "node:fs";
import { request as httpRequest } from "node:http";
import { request as httpsRequest, type RequestOptions } from "node:https";
import { parseArgs } from "node:util";
import { KubeConfig } from "@kubernetes/client-node";
import { AGGREGATED_PREFIX } from "../../protocol/aggregated.ts";
import { UpdraftHeaders } from "../../protocol/headers.ts";

const usage = `usage: updraft invoke <function> [-n namespace] [--data JSON | --file FILE] [--log] [--async]
       updraft invocation <request-id> [-n namespace]`;

interface Answer {
  status: number;
  text: string;
  header(name: string): string | null;
}

/** One call of the invoke API, `path` as /v1/…: to $UPDRAFT_URL, or through the API server. */
type Call = (method: string, path: string, headers: Record<string, string>, body?: Buffer) => Promise<Answer>;

function loadKubeConfig(): KubeConfig | undefined {
  try {
    const kc = new KubeConfig();
    kc.loadFromDefault();
    return kc.getCurrentCluster() ? kc : undefined;
  } catch {
    return undefined;
  }
}

/** The namespace to use: -n, else the kubeconfig context's, else default. */
function namespaceOf(flag: string | undefined, kc: KubeConfig | undefined): string {
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

function caller(kc: KubeConfig | undefined): Call | undefined {
  const base = process.env.UPDRAFT_URL?.replace(/\/$/, "");
  if (base) return direct(base, kc);
  if (kc) return viaApiServer(kc);
  console.error("updraft: no kubeconfig and no UPDRAFT_URL: nowhere to call");
  return undefined;
}

/** What to do about a 401 from the activator: it takes tokens, and the kubeconfig may hold a certificate. */
function explainUnauthenticated(status: number): void {
  if (status !== 401 || !process.env.UPDRAFT_URL) return;
  console.error(
    "updraft: the activator takes a Kubernetes bearer token: set UPDRAFT_TOKEN, or unset UPDRAFT_URL to " +
      "call through the API server with the kubeconfig's credential",
  );
}

async function invocation(args: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args,
    allowPositionals: true,
    options: { namespace: { type: "string", short: "n" } },
  });
  const id = positionals[0];
  if (!id) {
    console.error(usage);
    return 2;
  }
  const kc = loadKubeConfig();
  const call = caller(kc);
  if (!call) return 2;
  const ns = namespaceOf(values.namespace, kc);
  const res = await call("GET", `/v1/namespaces/${ns}/invocations/${encodeURIComponent(id)}`, {});
  const text = res.text;
  explainUnauthenticated(res.status);
  try {
    console.log(JSON.stringify(JSON.parse(text), null, 2));
  } catch {
    console.log(text);
  }
  return res.status === 200 ? 0 : 1;
}

async function invoke(args: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args,
    allowPositionals: true,
    options: {
      namespace: { type: "string", short: "n" },
      data: { type: "string", short: "d" },
      file: { type: "string", short: "f" },
      log: { type: "boolean", default: false },
      async: { type: "boolean", default: false },
    },
  });
  const name = positionals[0];
  if (!name) {
    console.error(usage);
    return 2;
  }
  const kc = loadKubeConfig();
  const call = caller(kc);
  if (!call) return 2;
  const ns = namespaceOf(values.namespace, kc);
  const body = values.file ? readFileSync(values.file) : Buffer.from(values.data ?? "{}");
  const t0 = performance.now();
  const res = await call(
    "POST",
    `/v1/namespaces/${ns}/functions/${name}/invocations`,
    {
      "content-type": "application/json",
      ...(values.log ? { [UpdraftHeaders.logType]: "Tail" } : {}),
      ...(values.async ? { [UpdraftHeaders.invocationType]: "Event" } : {}),
    },
    body,
  );
  const text = res.text;
  explainUnauthenticated(res.status);
  if (values.async) {
    if (res.status !== 202) {
      console.error(`status ${res.status}: ${text}`);
      return 1;
    }
    // The id alone on stdout, for scripts: updraft invocation "$(updraft invoke f --async)".
    console.log((JSON.parse(text) as { requestId: string }).requestId);
    return 0;
  }
  console.log(text);
  const h = (k: string) => res.header(k);
  const parts = [
    `status ${res.status}`,
    `request id ${h(UpdraftHeaders.requestId) ?? "-"}`,
    `duration ${h(UpdraftHeaders.durationMs) ?? "-"} ms (billed ${h(UpdraftHeaders.billedDurationMs) ?? "-"} ms)`,
    ...(h(UpdraftHeaders.initDurationMs) ? [`init ${h(UpdraftHeaders.initDurationMs)} ms (cold start)`] : []),
    ...(h(UpdraftHeaders.functionError) ? [`function error ${h(UpdraftHeaders.functionError)}`] : []),
    `round trip ${Math.round(performance.now() - t0)} ms`,
  ];
  console.error(parts.join(" · "));
  if (values.log && h(UpdraftHeaders.logResult)) {
    console.error(Buffer.from(h(UpdraftHeaders.logResult)!, "base64").toString());
  }
  return res.status === 200 && !h(UpdraftHeaders.functionError) ? 0 : 1;
}

async function main(): Promise<number> {
  const [cmd, ...rest] = process.argv.slice(2);
  if (cmd === "invoke") return invoke(rest);
  if (cmd === "invocation") return invocation(rest);
  console.error(usage);
  return 2;
}

main().then(
  (code) => process.exit(code),
  (err: unknown) => {
    console.error(`updraft: ${err instanceof Error ? err.message : String(err)}`);
    process.exit(1);
  },
);
