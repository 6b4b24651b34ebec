/**
 * A function pod's shim tells the activators where it is once it is ready (docs/data-path.md,
 * "Instances announce themselves"): a request waiting for this cold start is sent here at
 * once, not after the kubelet reports the pod's address. Best effort: an announcement that
 * does not get through costs nothing but that head start — the EndpointSlice path remains.
 */
import { request } from "node:http";
import type { InstanceAnnouncement } from "../protocol/announce.ts";

export interface AnnounceOptions {
  url: string;
  announcement: InstanceAnnouncement;
  /** Whether the shim takes requests yet: it is announced only once it does. */
  isReady: () => boolean;
  /** Give up after this long (ms); the kubelet's report takes over by then. */
  withinMs: number;
  /** POST the JSON body; resolves the HTTP status (throws when nothing answered). */
  post: (url: string, body: string) => Promise<number>;
  now?: () => number;
  sleep?: (ms: number) => Promise<void>;
}

/** How often readiness is looked at, and a failed announcement tried again. */
const READY_POLL_MS = 10;
const RETRY_MS = 200;

/**
 * "announced": an activator took it; "refused": an activator said it is not a starting
 * instance (4xx — trying again cannot help); "gave-up": nothing answered in time.
 */
export type AnnounceOutcome = "announced" | "refused" | "gave-up";

export async function announceInstance(opts: AnnounceOptions): Promise<AnnounceOutcome> {
  const now = opts.now ?? Date.now;
  const sleep = opts.sleep ?? ((ms: number) => new Promise<void>((r) => setTimeout(r, ms)));
  const deadline = now() + opts.withinMs;
  while (!opts.isReady()) {
    if (now() >= deadline) return "gave-up";
    await sleep(READY_POLL_MS);
  }
  const body = JSON.stringify(opts.announcement);
  for (;;) {
    try {
      const status = await opts.post(opts.url, body);
      if (status >= 200 && status < 300) return "announced";
      if (status >= 400 && status < 500 && status !== 408 && status !== 429) return "refused";
    } catch {
      // The activator's Service has no ready endpoint yet, or DNS is not there: try again.
    }
    if (now() + RETRY_MS >= deadline) return "gave-up";
    await sleep(RETRY_MS);
  }
}

/**
 * POSTs a JSON body with node:http and resolves the status. Not fetch: a process's first
 * fetch loads and compiles undici's fetch (45–75 ms in a function pod, measured), and this
 * is the first request a new instance makes, on its cold start's path; node:http's first
 * takes ~13 ms there.
 */
export function postJson(url: string, body: string, timeoutMs: number): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = request(
      url,
      {
        method: "POST",
        headers: { "content-type": "application/json", "content-length": Buffer.byteLength(body) },
        timeout: timeoutMs,
      },
      (res) => {
        res.resume();
        res.once("end", () => resolve(res.statusCode ?? 0));
        res.once("error", reject);
      },
    );
    req.once("timeout", () => req.destroy(new Error(`no answer within ${timeoutMs} ms`)));
    req.once("error", reject);
    req.end(body);
  });
}
