/**
 * updraft logs <function> [--request-id ID] [-f]: the log of a function's running instances,
 * read through the kubeconfig's API server (pods/log, as kubectl logs). Every line of an
 * invocation carries its request id — SCF's START/END/Report lines, and the function's own
 * output, which the runtime shim tags `RequestId:<id> ` — so one invocation's lines can be
 * picked out of an instance that runs several at once.
 */
import { Writable } from "node:stream";
import { parseArgs } from "node:util";
import { CoreV1Api, CustomObjectsApi, type KubeConfig, Log, type V1Pod } from "@kubernetes/client-node";
import { FUNCTIONS, GROUP, VERSION } from "../api/v1alpha1.ts";
import type { KeptInvocation } from "../protocol/kept-logs.ts";
import { keptInvocations, namespaceOf, requireKubeConfig } from "./transport.ts";
import { requiredArgument } from "./usage.ts";

/** The container a function's pod runs it in (the controller's makeDeployment names it). */
const CONTAINER = "function";
/** How often -f looks for instances that started since. */
const FOLLOW_POLL_MS = 2000;

/**
 * Whether a log line is of invocation `requestId`: SCF writes "RequestId:<id>", and "Init
 * Report RequestId: <id>" with a space; the shim tags the function's lines "RequestId:<id> ".
 */
export function lineOf(requestId: string): (line: string) => boolean {
  const escaped = requestId.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
  const re = new RegExp(`RequestId: ?${escaped}(\\s|$)`);
  return (line) => re.test(line);
}

/** A Writable that hands on whole lines, each once, to `onLine`. */
function lineSink(onLine: (line: string) => void): Writable {
  let partial = "";
  return new Writable({
    write(chunk: Buffer, _enc, done) {
      const parts = (partial + chunk.toString()).split("\n");
      partial = parts.pop() ?? "";
      for (const l of parts) onLine(l);
      done();
    },
    final(done) {
      if (partial) onLine(partial);
      done();
    },
  });
}

export async function logs(args: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args,
    allowPositionals: true,
    options: {
      namespace: { type: "string", short: "n" },
      "request-id": { type: "string" },
      follow: { type: "boolean", short: "f", default: false },
      since: { type: "string" },
      tail: { type: "string" },
      kept: { type: "boolean", default: false },
    },
  });
  const name = requiredArgument(positionals, "logs");
  if (name === undefined) return 2;
  const sinceSeconds = values.since === undefined ? undefined : parseDuration(values.since);
  if (sinceSeconds === null) {
    console.error(`updraft: --since ${values.since}: a duration such as 30s, 5m or 2h`);
    return 2;
  }
  const tailLines = values.tail === undefined ? undefined : Number(values.tail);
  if (tailLines !== undefined && !(Number.isInteger(tailLines) && tailLines >= 0)) {
    console.error(`updraft: --tail ${values.tail}: a whole number of lines`);
    return 2;
  }
  const kc = requireKubeConfig();
  if (!kc) return 2;
  const namespace = namespaceOf(values.namespace, kc);
  const found = await kc
    .makeApiClient(CustomObjectsApi)
    .getNamespacedCustomObject({ group: GROUP, version: VERSION, plural: FUNCTIONS, namespace, name })
    .then(
      () => true,
      (err: unknown) => {
        if ((err as { code?: number }).code === 404) return false;
        throw err;
      },
    );
  if (!found) {
    console.error(`updraft: function ${namespace}/${name} not found`);
    return 1;
  }
  const wanted = values["request-id"] ? lineOf(values["request-id"]) : () => true;
  const reader = new InstanceLogs(kc, namespace, name, wanted, {
    follow: values.follow,
    ...(sinceSeconds !== undefined ? { sinceSeconds } : {}),
    ...(tailLines !== undefined ? { tailLines } : {}),
  });
  const fromKept = async (): Promise<number> => {
    const items = await keptInvocations(kc, namespace, name, {
      ...(values["request-id"] ? { requestId: values["request-id"] } : {}),
      ...(sinceSeconds !== undefined ? { sinceSeconds } : {}),
      limit: 1000,
    });
    if ("error" in items) {
      console.error(`updraft: the kept logs of ${namespace}/${name}: ${items.error}`);
      return 1;
    }
    const lines = items.flatMap(keptLines);
    for (const l of tailLines === undefined ? lines : lines.slice(lines.length - tailLines)) console.log(l);
    return 0;
  };
  if (values.kept) return fromKept();
  const pods = await reader.pods();
  if (pods.length === 0 && !values.follow) {
    console.error(`${namespace}/${name} has no running instance: the kept logs`);
    return fromKept();
  }
  if (!values.follow) {
    const printed = await Promise.all(pods.map((p) => reader.read(p, pods.length > 1)));
    // One invocation's lines not on a running instance: it ran on one that stopped.
    if (values["request-id"] && printed.every((n) => n === 0)) return fromKept();
    return 0;
  }
  // Follow: every instance there is, and each one that starts, until interrupted.
  const following = new Set<string>();
  for (;;) {
    const now = await reader.pods();
    for (const p of now) {
      const podName = p.metadata?.name ?? "";
      if (following.has(podName)) continue;
      following.add(podName);
      void reader.read(p, true).finally(() => following.delete(podName));
    }
    await new Promise((r) => setTimeout(r, FOLLOW_POLL_MS));
  }
}

class InstanceLogs {
  private readonly core: CoreV1Api;
  private readonly log: Log;
  private readonly namespace: string;
  private readonly fn: string;
  private readonly wanted: (line: string) => boolean;
  private readonly opts: { follow: boolean; sinceSeconds?: number; tailLines?: number };

  constructor(
    kc: KubeConfig,
    namespace: string,
    fn: string,
    wanted: (line: string) => boolean,
    opts: { follow: boolean; sinceSeconds?: number; tailLines?: number },
  ) {
    this.core = kc.makeApiClient(CoreV1Api);
    this.log = new Log(kc);
    this.namespace = namespace;
    this.fn = fn;
    this.wanted = wanted;
    this.opts = opts;
  }

  /** The function's pods whose container has started (a pending one has no log yet). */
  async pods(): Promise<V1Pod[]> {
    const list = await this.core.listNamespacedPod({
      namespace: this.namespace,
      labelSelector: `updraft.dev/function=${this.fn}`,
    });
    return list.items.filter((p) =>
      p.status?.containerStatuses?.some(
        (c) => c.name === CONTAINER && (c.state?.running || c.state?.terminated),
      ),
    );
  }

  /**
   * One pod's log, filtered, each line prefixed with the pod's name when several are read;
   * resolves with the lines printed.
   */
  read(pod: V1Pod, prefixed: boolean): Promise<number> {
    const podName = pod.metadata?.name ?? "";
    const prefix = prefixed ? `[${podName}] ` : "";
    let printed = 0;
    const sink = lineSink((line) => {
      if (!this.wanted(line)) return;
      printed++;
      process.stdout.write(`${prefix}${line}\n`);
    });
    // The API server's answer is piped into the sink, which finishes when the log ends
    // (at once without -f; when the pod stops with it).
    return new Promise<number>((resolve) => {
      sink.on("finish", () => resolve(printed));
      this.log
        .log(this.namespace, podName, CONTAINER, sink, {
          follow: this.opts.follow,
          ...(this.opts.sinceSeconds !== undefined ? { sinceSeconds: this.opts.sinceSeconds } : {}),
          ...(this.opts.tailLines !== undefined ? { tailLines: this.opts.tailLines } : {}),
        })
        .catch((err: unknown) => {
          console.error(`updraft: the log of ${podName}: ${String((err as Error).message ?? err)}`);
          resolve(printed);
        });
    });
  }
}

/**
 * A kept invocation's log as lines, each carrying its request id as on an instance: SCF's
 * own lines have it; the function's lines (kept untagged, as SCF's log result has them) get
 * the tag. Example: "hi" of abc → "RequestId:abc hi".
 */
export function keptLines(e: KeptInvocation): string[] {
  return e.log
    .replace(/\n$/, "")
    .split("\n")
    .filter((l) => l !== "")
    .map((l) => (/RequestId: ?\S/.test(l) ? l : `RequestId:${e.requestId} ${l}`));
}

/** "30s", "5m", "2h" → seconds; null when it is none of these. */
export function parseDuration(s: string): number | null {
  const m = /^(\d+)(s|m|h)$/.exec(s);
  if (!m) return null;
  return Number(m[1]) * { s: 1, m: 60, h: 3600 }[m[2] as "s" | "m" | "h"];
}
