/**
 * The worker of an image function's Event invocations. The user's image runs in its own
 * container beside the shim (same pod, same network namespace) and serves SCF's image
 * contract: POST /event-invoke on port 9000, the event as the body, the result as the
 * answer. There is no process of ours to start or kill: "init" is the port answering, an
 * exit or crash of the user's server shows as a refused or broken connection (439; the
 * kubelet restarts the container and init waits for the port again), a 2xx answer is the
 * result and any other status a function error (430, its body as the message).
 */
import { Agent, request } from "node:http";
import { connect } from "node:net";
import { WEB_FUNCTION_PORT } from "../protocol/triggers.ts";
import type { InvocationWorker, Outcome } from "./worker.ts";

/** Where SCF's image contract puts Event invocations. */
export const EVENT_INVOKE_PATH = "/event-invoke";

export interface ImageWorkerSpec {
  /** The user's server (the function container's port 9000 on localhost). */
  host: string;
  port: number;
  /** SCF's X-Scf-* headers for one request id. */
  headers: (requestId: string) => Record<string, string>;
}

export class ImageWorker implements InvocationWorker {
  private readonly spec: ImageWorkerSpec;
  private readonly agent = new Agent({ keepAlive: true, maxSockets: 1 });
  private current: { abort: (o: Outcome) => void } | undefined;
  private stopped = false;
  initDone: Promise<void> = Promise.resolve();
  exited = false;
  lastRssBytes = 0;
  peakRssBytes = 0;
  /** The user's processes are in another container: nothing here to measure or signal. */
  readonly pid = undefined;

  constructor(spec: ImageWorkerSpec = { host: "127.0.0.1", port: WEB_FUNCTION_PORT, headers: () => ({}) }) {
    this.spec = spec;
  }

  async listen(): Promise<void> {}

  /** Waits for the user's server to accept connections (the shim bounds it by the init timeout). */
  start(): void {
    this.exited = false;
    this.stopped = false;
    this.initDone = (async () => {
      while (!this.stopped) {
        if (await portOpen(this.spec.host, this.spec.port)) return;
        await new Promise((r) => setTimeout(r, 20));
      }
      throw new Error("stopped");
    })();
    this.initDone.catch(() => undefined);
  }

  get busy(): boolean {
    return this.current !== undefined;
  }

  invoke(id: string, event: Buffer, timeoutMs: number, triggerSource?: string): Promise<Outcome> {
    return new Promise<Outcome>((resolve) => {
      let settled = false;
      const settle = (o: Outcome) => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        this.current = undefined;
        resolve(o);
      };
      const req = request(
        {
          host: this.spec.host,
          port: this.spec.port,
          method: "POST",
          path: EVENT_INVOKE_PATH,
          agent: this.agent,
          headers: {
            "content-type": "application/json",
            "content-length": event.length,
            ...this.spec.headers(id),
            ...(triggerSource ? { "x-scf-trigger-src": triggerSource } : {}),
          },
        },
        (res) => {
          const chunks: Buffer[] = [];
          res.on("data", (c: Buffer) => chunks.push(c));
          res.on("end", () => {
            const body = Buffer.concat(chunks);
            const status = res.statusCode ?? 500;
            settle(status >= 200 && status < 300 ? { kind: "response", body } : { kind: "error", body });
          });
          res.on("error", () => settle({ kind: "exited", code: null, signal: null }));
        },
      );
      // A refused or broken connection: the user's server is gone (exited or crashed).
      req.on("error", () => settle({ kind: "exited", code: null, signal: null }));
      const timer = setTimeout(() => {
        settle({ kind: "timeout" });
        req.destroy();
      }, timeoutMs);
      this.current = {
        abort: (o) => {
          settle(o);
          req.destroy();
        },
      };
      req.end(event);
    });
  }

  abortCurrent(o: Outcome): void {
    this.current?.abort(o);
  }

  /** Drops the connections and stops waiting for the port (a recycle starts afresh). */
  kill(): void {
    this.stopped = true;
    this.agent.destroy();
  }

  async waitExit(): Promise<void> {}

  memUsageBytes(): number {
    return 0;
  }

  async close(): Promise<void> {
    this.stopped = true;
    this.agent.destroy();
  }
}

export function portOpen(host: string, port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = connect({ host, port });
    s.once("connect", () => {
      s.destroy();
      resolve(true);
    });
    s.once("error", () => resolve(false));
  });
}
