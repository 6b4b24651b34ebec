/**
 * updraft invoke <function> [-n ns] [--data JSON | --file F] [--log] [--async]: prints the
 * result, then the request id and durations on stderr (stdout stays the function's JSON);
 * with --async, the request id of the queued event.
 * updraft invocation <request-id> [-n ns]: an async invocation's record.
 */
import { readFileSync } from "node:fs";
import { parseArgs } from "node:util";
import { UpdraftHeaders } from "../protocol/headers.ts";
import { caller, explainUnauthenticated, loadKubeConfig, namespaceOf } from "./transport.ts";
import { requiredArgument } from "./usage.ts";

export async function invocation(args: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args,
    allowPositionals: true,
    options: { namespace: { type: "string", short: "n" } },
  });
  const id = requiredArgument(positionals, "invocation");
  if (!id) return 2;
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

export async function invoke(args: string[]): Promise<number> {
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
  const name = requiredArgument(positionals, "invoke");
  if (!name) return 2;
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
