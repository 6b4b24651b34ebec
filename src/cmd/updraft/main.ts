/**
 * updraft CLI.
 *   updraft invoke <function> [-n ns] [--data JSON | --file F] [--log] [--async]
 *   updraft invocation <request-id> [-n ns]
 * invoke prints the result, then the request id and durations (on stderr, so stdout stays
 * the function's JSON); with --async, the request id of the queued event. invocation prints
 * an async invocation's record. Talks to $UPDRAFT_URL (the activator; `make -s
 * cluster-env` sets it) with a Kubernetes bearer token: $UPDRAFT_TOKEN, else the current
 * kubeconfig user's token (a token or an exec plugin; a client certificate is no token).
 */
import { readFileSync } from "node:fs";
import { parseArgs } from "node:util";
import { KubeConfig } from "@kubernetes/client-node";
import { UpdraftHeaders } from "../../protocol/headers.ts";

const usage = `usage: updraft invoke <function> [-n namespace] [--data JSON | --file FILE] [--log] [--async]
       updraft invocation <request-id> [-n namespace]`;

function baseUrl(): string | undefined {
  const base = process.env.UPDRAFT_URL;
  if (!base) console.error('updraft: UPDRAFT_URL is not set (eval "$(make -s cluster-env)")');
  return base?.replace(/\/$/, "");
}

/** The Authorization header for the invoke API, when there is a token to send. */
async function authorization(): Promise<Record<string, string>> {
  if (process.env.UPDRAFT_TOKEN) return { authorization: `Bearer ${process.env.UPDRAFT_TOKEN}` };
  try {
    const kc = new KubeConfig();
    kc.loadFromDefault();
    const opts: { headers?: Record<string, unknown> } = { headers: {} };
    await kc.applyToHTTPSOptions(opts);
    const header = opts.headers?.Authorization ?? opts.headers?.authorization;
    return typeof header === "string" && /^Bearer /i.test(header) ? { authorization: header } : {};
  } catch {
    return {};
  }
}

/** What to do about a 401: the invoke API takes tokens, and the kubeconfig may hold a certificate. */
function explainUnauthenticated(status: number): void {
  if (status !== 401) return;
  console.error(
    "updraft: the invoke API takes a Kubernetes bearer token: set UPDRAFT_TOKEN (for example " +
      '"$(kubectl create token <serviceaccount> -n <namespace>)") or use a kubeconfig user with a token',
  );
}

async function invocation(args: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args,
    allowPositionals: true,
    options: { namespace: { type: "string", short: "n", default: "default" } },
  });
  const id = positionals[0];
  if (!id) {
    console.error(usage);
    return 2;
  }
  const base = baseUrl();
  if (!base) return 2;
  const res = await fetch(`${base}/v1/namespaces/${values.namespace}/invocations/${encodeURIComponent(id)}`, {
    headers: await authorization(),
  });
  const text = await res.text();
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
      namespace: { type: "string", short: "n", default: "default" },
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
  const base = baseUrl();
  if (!base) return 2;
  const body = values.file ? readFileSync(values.file) : Buffer.from(values.data ?? "{}");
  const t0 = performance.now();
  const res = await fetch(`${base}/v1/namespaces/${values.namespace}/functions/${name}/invocations`, {
    method: "POST",
    headers: {
      "content-type": "application/json",
      ...(await authorization()),
      ...(values.log ? { [UpdraftHeaders.logType]: "Tail" } : {}),
      ...(values.async ? { [UpdraftHeaders.invocationType]: "Event" } : {}),
    },
    body,
  });
  const text = await res.text();
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
  const h = (k: string) => res.headers.get(k);
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
