/**
 * The shim's end of the instance channel (protocol/instance-channel.ts): a TCP server on
 * which activators send Event-function invocations as frames. Each connection shows the
 * instance's key once, in its hello; every call on it then runs as a POST /invoke would.
 */
import { createServer, type Server, type Socket } from "node:net";
import { INVOKE_BODY_LIMIT_BYTES } from "../protocol/http.ts";
import {
  type ChannelCall,
  FRAME_META_LIMIT_BYTES,
  FrameReader,
  FrameWriter,
  GOAWAY_CALL_ID,
  HELLO_CALL_ID,
  HELLO_LIMITS,
  parseChannelCall,
} from "../protocol/instance-channel.ts";
import { keyMatches } from "../protocol/instance-key.ts";
import { type InvokeResult, refusal } from "./invoke-result.ts";

/** How long a new connection has to show its key. */
const HELLO_TIMEOUT_MS = 10_000;

/** What the channel needs of the shim. */
export interface ChannelHost {
  /** The key calls must show now (undefined: none is checked, a shim outside a pod). */
  instanceKey(): string | undefined;
  /** Runs or refuses one call; `deliver` writes its answer (see Shim.answer). */
  answer(call: ChannelCall, event: Buffer, deliver: (r: InvokeResult) => Promise<void>): Promise<void>;
  /** A line for the shim's own log. */
  log(line: string): void;
}

/** Writes a refusal (or any answer) as a frame; `done` once it is out or the connection gone. */
function sendAnswer(writer: FrameWriter, callId: number, r: InvokeResult, done?: () => void): void {
  writer.send(callId, { status: r.status, headers: r.headers }, r.body, done);
}

export class ChannelServer {
  private readonly host: ChannelHost;
  private readonly server: Server;
  /** Open connections: their writers, and their calls not answered yet. */
  private readonly sockets = new Map<Socket, { writer: FrameWriter; unanswered: number }>();

  private readonly helloTimeoutMs: number;

  constructor(host: ChannelHost, opts: { helloTimeoutMs?: number } = {}) {
    this.host = host;
    this.helloTimeoutMs = opts.helloTimeoutMs ?? HELLO_TIMEOUT_MS;
    // Half-open: after its GOAWAY the shim still reads and answers until the activator ends.
    this.server = createServer({ allowHalfOpen: true }, (socket) => this.connection(socket));
  }

  listen(port: number): Promise<void> {
    return new Promise((resolve, reject) => {
      this.server.once("error", reject);
      this.server.listen(port, "0.0.0.0", () => {
        this.server.off("error", reject);
        resolve();
      });
    });
  }

  /** Connections open now. */
  get connections(): number {
    return this.sockets.size;
  }

  /** The port it listens on (a test's is chosen by the kernel). */
  get port(): number {
    const a = this.server.address();
    return typeof a === "object" && a ? a.port : 0;
  }

  private connection(socket: Socket): void {
    socket.setNoDelay(true);
    socket.setKeepAlive(true, 30_000);
    // Whoever connects shows the key within 10 s, or is let go.
    const helloTimer = setTimeout(() => socket.destroy(), this.helloTimeoutMs);
    helloTimer.unref();
    const writer = new FrameWriter(socket);
    const conn = { writer, unanswered: 0 };
    this.sockets.set(socket, conn);
    socket.on("close", () => {
      clearTimeout(helloTimer);
      this.sockets.delete(socket);
    });
    // The activator ended its side: this one ends once every call it sent is answered.
    let peerEnded = false;
    const endIfDone = () => {
      if (peerEnded && conn.unanswered === 0 && !socket.writableEnded) socket.end();
    };
    socket.on("end", () => {
      peerEnded = true;
      endIfDone();
    });
    socket.on("error", () => undefined); // a caller gone; 'close' follows
    // The key this connection showed in its hello; null until then.
    let shown: string | undefined | null = null;
    let refused = false;
    // Until the hello, nothing larger than one is read: a caller without the key cannot
    // make the instance hold an event's 6 MB.
    const reader = new FrameReader(HELLO_LIMITS, (callId, meta, body) => {
      if (refused) return; // frames that came with a refused hello: not read
      if (shown === null) {
        const expected = this.host.instanceKey();
        const presented = (meta as { key?: unknown } | null)?.key;
        if (
          callId !== HELLO_CALL_ID ||
          (expected !== undefined &&
            !keyMatches(typeof presented === "string" ? presented : undefined, expected))
        ) {
          const r = refusal(
            401,
            "calls to an instance come from the activators only",
            "InstanceKeyRequired",
            401,
          );
          sendAnswer(writer, HELLO_CALL_ID, r, () => socket.destroy());
          refused = true;
          return;
        }
        shown = expected;
        clearTimeout(helloTimer);
        reader.limit({ metaBytes: FRAME_META_LIMIT_BYTES, bodyBytes: INVOKE_BODY_LIMIT_BYTES });
        return;
      }
      const call = parseChannelCall(meta);
      if (!call) {
        sendAnswer(writer, callId, refusal(400, "a call's meta needs a requestId", "InvalidParameter", 400));
        return;
      }
      // A pool instance takes its function's key when it is specialised: a connection
      // opened with the pool's key does not carry the function's calls.
      if (shown !== this.host.instanceKey()) {
        sendAnswer(
          writer,
          callId,
          refusal(401, "this connection showed another key", "InstanceKeyRequired", 401),
        );
        return;
      }
      conn.unanswered++;
      void this.host.answer(call, body, async (r) => {
        conn.unanswered--;
        await writer.write(callId, { status: r.status, headers: r.headers }, r.body);
        endIfDone();
      });
    });
    socket.on("data", (chunk: Buffer) => {
      if (refused) return;
      try {
        reader.push(chunk);
      } catch (err) {
        // After a refused hello the connection closes once the refusal is out.
        if (refused) return;
        // Over the limits, or not frames at all: nothing further on it can be read.
        this.host.log(
          `instance channel: ${err instanceof Error ? err.message : String(err)}; connection closed`,
        );
        socket.destroy();
      }
    });
  }

  /**
   * Stops taking connections and says GOAWAY on the open ones: each activator sends no new
   * call, and ends its side once its calls are answered (every call read until then is
   * answered, a new one 503 unrun as the shim drains). Waits up to `waitMs` for them to
   * close, then closes the rest.
   */
  async close(waitMs: number): Promise<void> {
    this.server.close();
    const deadline = Date.now() + waitMs;
    await Promise.all(
      [...this.sockets].map(
        ([s, conn]) =>
          new Promise<void>((resolve) => {
            s.once("close", () => resolve());
            conn.writer.send(GOAWAY_CALL_ID, {});
            setTimeout(
              () => {
                s.destroy();
                resolve();
              },
              Math.max(0, deadline - Date.now()),
            ).unref();
          }),
      ),
    );
  }
}
