/**
 * The activator's end of the instance channel (protocol/instance-channel.ts): one TCP
 * connection to one instance, on which every Event-function call to it travels as a frame,
 * answered by id in whatever order the calls finish. Made on the first call, closed when the
 * instance goes, says GOAWAY, or the connection has been idle for a minute.
 *
 * What a call's outcome is when the connection fails:
 * - it never connected: "refused" (ECONNREFUSED: the instance is gone, or older than the
 *   channel — the forwarder asks its HTTP port, which tells the two apart) or "retry"
 *   (unreachable, no connection within the connect time-out): the call never got there;
 * - the shim said GOAWAY (it drained, running nothing since): "retry", elsewhere;
 * - it closed otherwise with the call unanswered: InternalError, never sent again — the
 *   function may have run.
 */
import { connect, type Socket } from "node:net";
import { UpdraftError } from "../lib/errors.ts";
import { ANSWER_LIMIT_BYTES } from "../protocol/http.ts";
import {
  type ChannelCall,
  FRAME_META_LIMIT_BYTES,
  FrameReader,
  FrameTooLarge,
  FrameWriter,
  GOAWAY_CALL_ID,
  HELLO_CALL_ID,
  parseChannelAnswer,
} from "../protocol/instance-channel.ts";
import type { InstanceAnswer } from "./forwarder.ts";

/** As undici's default: a connection not made in 10 s is given up. */
const CONNECT_TIMEOUT_MS = 10_000;
/** An idle connection is closed after a minute, as the HTTP agent's keep-alive. */
const IDLE_MS = 60_000;

export type ChannelOutcome = InstanceAnswer | "retry" | "refused";

interface PendingCall {
  resolve: (o: ChannelOutcome) => void;
  reject: (err: Error) => void;
  timer: NodeJS.Timeout;
}

export class InstanceChannel {
  private readonly ip: string;
  private readonly socket: Socket;
  private readonly writer: FrameWriter;
  private readonly pending = new Map<number, PendingCall>();
  private nextId = 1;
  private connected = false;
  /** No new call goes on it: it said GOAWAY, failed, closed or idled out. */
  private done = false;
  private failure: Error | undefined;
  private goneAway = false;

  /** `onGone` is called once, when it can take no more calls. */
  private readonly onGone: () => void;

  constructor(ip: string, port: number, key: string | undefined, onGone: () => void) {
    this.ip = ip;
    this.onGone = onGone;
    const socket = connect({ host: ip, port, noDelay: true });
    this.socket = socket;
    this.writer = new FrameWriter(socket);
    const connectTimer = setTimeout(() => {
      const err = Object.assign(new Error(`no connection to ${ip}:${port} in ${CONNECT_TIMEOUT_MS} ms`), {
        code: "ETIMEDOUT",
      });
      socket.destroy(err);
    }, CONNECT_TIMEOUT_MS);
    socket.once("connect", () => {
      this.connected = true;
      clearTimeout(connectTimer);
      socket.setKeepAlive(true, 30_000);
      socket.setTimeout(IDLE_MS);
    });
    socket.on("timeout", () => {
      if (this.pending.size > 0) return; // a long call: its own timer watches it
      this.stop();
      socket.end();
    });
    // Written at once: the calls after it need not wait for the connection.
    this.writer.send(HELLO_CALL_ID, { key: key ?? "" });
    const reader = new FrameReader(
      { metaBytes: FRAME_META_LIMIT_BYTES, bodyBytes: ANSWER_LIMIT_BYTES },
      (callId, meta, body) => this.frame(callId, meta, body),
    );
    socket.on("data", (chunk: Buffer) => {
      try {
        reader.push(chunk);
      } catch (err) {
        this.unreadable(err);
      }
    });
    socket.on("error", (err) => {
      this.failure ??= err;
      this.stop();
    });
    socket.once("close", () => {
      clearTimeout(connectTimer);
      this.stop();
      this.failAll();
    });
  }

  /** False once no call may go on it (a new one is made for the next call). */
  get usable(): boolean {
    return !this.done;
  }

  /** Sends one call; see the file's comment for what comes back. */
  call(meta: ChannelCall, body: Buffer, waitMs: number): Promise<ChannelOutcome> {
    return new Promise((resolve, reject) => {
      const id = this.nextId++;
      const timer = setTimeout(() => {
        this.pending.delete(id);
        reject(
          new UpdraftError("InternalError", `the instance at ${this.ip} did not answer in ${waitMs} ms`),
        );
      }, waitMs);
      this.pending.set(id, { resolve, reject, timer });
      this.writer.send(id, meta, body);
    });
  }

  /** Closes it now; calls without an answer fail as on any close. */
  close(): void {
    this.stop();
    this.socket.destroy();
  }

  private stop(): void {
    if (this.done) return;
    this.done = true;
    this.onGone();
  }

  private frame(callId: number, meta: unknown, body: Buffer): void {
    if (callId === GOAWAY_CALL_ID) {
      // Drained: it ran nothing since it began to, so whatever is unanswered never ran.
      this.goneAway = true;
      this.stop();
      this.socket.end();
      return;
    }
    const answer = parseChannelAnswer(meta);
    if (callId === HELLO_CALL_ID) {
      // The hello refused (a wrong key): nothing on this connection will run.
      this.failure = new UpdraftError(
        "InternalError",
        `the instance at ${this.ip} refused the activator's key (${answer?.status ?? "?"}): ${body.toString().slice(0, 200)}`,
      );
      this.close();
      return;
    }
    const call = this.pending.get(callId);
    if (!call) return; // timed out already
    this.pending.delete(callId);
    clearTimeout(call.timer);
    if (!answer) {
      call.reject(
        new UpdraftError("InternalError", `the instance at ${this.ip} sent an answer without a status`),
      );
      return;
    }
    call.resolve({ statusCode: answer.status, headers: answer.headers, body });
  }

  /** A frame over the limits, or not frames at all: that call is too large, the rest unknown. */
  private unreadable(err: unknown): void {
    if (err instanceof FrameTooLarge) {
      const call = this.pending.get(err.callId);
      if (call) {
        this.pending.delete(err.callId);
        clearTimeout(call.timer);
        call.reject(
          new UpdraftError(
            "ResultTooLarge",
            `the instance at ${this.ip} answered more than ${ANSWER_LIMIT_BYTES} bytes (SCF's result limit is 6 MB)`,
          ),
        );
      }
    }
    this.failure ??= new UpdraftError(
      "InternalError",
      `the instance at ${this.ip} sent what is not a frame: ${String(err)}`,
    );
    this.close();
  }

  /** The connection closed: every call without an answer gets its outcome (file comment). */
  private failAll(): void {
    const code = (this.failure as { code?: string } | undefined)?.code;
    for (const [id, call] of this.pending) {
      this.pending.delete(id);
      clearTimeout(call.timer);
      if (this.goneAway) call.resolve("retry");
      // Never connected: nothing was delivered.
      else if (!this.connected) call.resolve(code === "ECONNREFUSED" ? "refused" : "retry");
      else if (this.failure instanceof UpdraftError) call.reject(this.failure);
      else
        call.reject(
          new UpdraftError(
            "InternalError",
            `the instance at ${this.ip} closed its channel before answering${this.failure ? `: ${String(this.failure)}` : ""}`,
            { cause: this.failure },
          ),
        );
    }
  }
}
