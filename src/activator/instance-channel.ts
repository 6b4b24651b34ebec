/**
 * The activator's end of the instance channel (protocol/instance-channel.ts): one TCP
 * connection to one instance, on which every Event-function call to it travels as a frame,
 * answered by id in whatever order the calls finish. Made on the first call; retired (no
 * new call, and ended once every call on it is answered) when the shim says GOAWAY, when the
 * table lets its instance go (Forwarder), after a minute without traffic, when its call ids
 * run out, or when the activator drains; closed outright when the instance closes it, sends
 * what is not a frame, or has not read a call's frames by the end of that call's time.
 *
 * What a call's outcome is when the connection fails:
 * - it never connected (refused, unreachable, or no connection within 3 s): "refused" —
 *   the call never got there; the forwarder asks the instance's HTTP port, which tells an
 *   instance without a channel (older, or 8081 blocked by a policy) from one that is gone;
 * - it closed, or the answer did not come in time, with the call unanswered:
 *   InternalError, never sent again — the function may have run.
 * After GOAWAY the shim still answers every call it reads until this end closes its side,
 * so a call in flight at the GOAWAY gets its real answer.
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

/**
 * A connection not made in 3 s is given up and the call goes over HTTP: an instance's pod
 * answers a connect in milliseconds, so a longer wait is a port that drops SYNs (a policy
 * that does not let 8081 in), and each call would wait out the whole time.
 */
const CONNECT_TIMEOUT_MS = 3000;
/** Call ids are uint32 and GOAWAY_CALL_ID is the largest: a channel retires well before. */
const LAST_CALL_ID = 0xfff00000;
/** An idle connection is closed after a minute, as the HTTP agent's keep-alive. */
const IDLE_MS = 60_000;

/** An answer, or "refused": no connection, the call was not sent (file comment). */
export type ChannelOutcome = InstanceAnswer | "refused";

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
  /** No new call goes on it: retired, failed or closed. */
  private done = false;
  /** This end has ended its side (sent FIN). */
  private ended = false;
  private failure: Error | undefined;
  /** Settled when the socket has closed. */
  readonly closed: Promise<void>;

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
      // A long call: its own timer watches it; the idle clock starts again.
      if (this.pending.size > 0) socket.setTimeout(IDLE_MS);
      else this.retire();
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
    this.closed = new Promise((resolve) => {
      socket.once("close", () => {
        clearTimeout(connectTimer);
        this.stop();
        this.failAll();
        resolve();
      });
    });
  }

  /** False once no call may go on it (a new one is made for the next call). */
  get usable(): boolean {
    return !this.done;
  }

  /** Sends one call; see the file's comment for what comes back. */
  call(meta: ChannelCall, body: Buffer, waitMs: number): Promise<ChannelOutcome> {
    // Not sent: a caller that raced its retirement goes elsewhere (or over HTTP).
    if (this.done) return Promise.resolve("refused");
    return new Promise((resolve, reject) => {
      const id = this.nextId++;
      if (this.nextId >= LAST_CALL_ID) this.retire();
      let handedOver = false;
      const timer = setTimeout(() => {
        this.pending.delete(id);
        reject(
          new UpdraftError("InternalError", `the instance at ${this.ip} did not answer in ${waitMs} ms`),
        );
        // Its frame still not taken by the kernel after the whole call's time: the instance
        // has stopped reading. The connection goes, and with it the bytes it holds — they
        // were admitted for the life of their calls, and this one has just ended.
        if (!handedOver) this.close();
        else this.endIfRetired();
      }, waitMs);
      this.pending.set(id, { resolve, reject, timer });
      this.writer.send(id, meta, body, () => {
        handedOver = true;
      });
    });
  }

  /** Closes it now; calls without an answer fail as on any close. */
  close(): void {
    this.stop();
    this.socket.destroy();
  }

  /**
   * No new call on it; its side ended once the calls on it are answered (the shim then
   * ends its own). Resolves when the connection has closed.
   */
  retire(): Promise<void> {
    this.stop();
    this.endIfRetired();
    return this.closed;
  }

  private endIfRetired(): void {
    if (!this.done || this.ended || this.pending.size > 0) return;
    this.ended = true;
    this.socket.end();
  }

  private stop(): void {
    if (this.done) return;
    this.done = true;
    this.onGone();
  }

  private frame(callId: number, meta: unknown, body: Buffer): void {
    if (callId === GOAWAY_CALL_ID) {
      // The instance drains: no new call; those in flight are still answered.
      void this.retire();
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
    if (!answer)
      call.reject(
        new UpdraftError("InternalError", `the instance at ${this.ip} sent an answer without a status`),
      );
    else call.resolve({ statusCode: answer.status, headers: answer.headers, body });
    this.endIfRetired();
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
    for (const [id, call] of this.pending) {
      this.pending.delete(id);
      clearTimeout(call.timer);
      // Never connected: nothing was delivered.
      if (!this.connected) call.resolve("refused");
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
