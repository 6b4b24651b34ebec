/**
 * The instance channel: how an activator sends Event-function invocations to an instance's
 * shim. One TCP connection per activator and instance carries every call, each a frame that
 * names its call, and each answer comes back as a frame with the same name, in whatever
 * order the calls finish. Against one HTTP/1.1 request per kept-alive connection it saves
 * both ends' HTTP machinery per call, and the writes of one turn of the event loop go out
 * together: at 10 and 50 clients, several calls share one send (docs/benchmarks.md has the
 * figures). The shim's HTTP port still takes the same calls (POST /invoke), for Web
 * functions' raw requests, for specialising pool instances and for an activator whose
 * instances are older than the channel.
 *
 * A frame is a 12-byte header — call id, meta bytes, body bytes, each a big-endian uint32 —
 * then the meta (JSON) and the body. E.g. call 7 with meta {"requestId":"r1"} (18 bytes)
 * and the event {"a":1} (7 bytes) is 00000007 00000012 00000007, then the 25 bytes.
 *
 * The first frame of a connection is the hello (call id 0), whose meta carries the
 * function's instance key; the shim checks it once and then takes every call on that
 * connection while the instance still has that key (a pool instance changes keys when it
 * is specialised). A refused hello is answered by one frame with call id 0 and a 401 meta,
 * and the connection is closed.
 */

/** The shim's channel port on every function instance (its HTTP port is 8080). */
export const INSTANCE_CHANNEL_PORT = 8081;

export const FRAME_HEADER_BYTES = 12;
/** The hello's call id; calls count up from 1. */
export const HELLO_CALL_ID = 0;
/**
 * The shim's word that it drains: the activator sends no new call on the connection, waits
 * for the answers to those it sent (the shim answers every call it reads until the
 * activator ends its side: 503 unrun for a new one), then ends its side.
 */
export const GOAWAY_CALL_ID = 0xffffffff;
/** Metas are a few hundred bytes; a log tail in an answer is at most 4 KB of base64. */
export const FRAME_META_LIMIT_BYTES = 64 * 1024;
/** What a hello may be (a key of 43 characters in its meta, no body): all that is read before it. */
export const HELLO_LIMITS = { metaBytes: 1024, bodyBytes: 0 };

/** The hello's meta. */
export interface ChannelHello {
  key: string;
}

/** A call's meta: what the HTTP form carries in X-Updraft-* headers. */
export interface ChannelCall {
  requestId: string;
  /** This call waited for the instance's cold start. */
  cold?: boolean;
  /** "Tail": the answer carries the invocation's log. */
  logType?: string;
  /** What fired the event (TRIGGER_SRC in the function), e.g. "timer". */
  triggerSource?: string;
  /** An async event (the instance remembers its outcome) and which attempt of it. */
  async?: boolean;
  attempt?: number;
}

/** An answer's meta: the status and X-Updraft-* headers of the HTTP form. */
export interface ChannelAnswer {
  status: number;
  headers: Record<string, string>;
}

/** A frame over the reader's limits: the connection cannot be read further. */
export class FrameTooLarge extends Error {
  readonly callId: number;
  constructor(callId: number, metaBytes: number, bodyBytes: number, limits: FrameLimits) {
    super(
      `frame ${callId} has ${metaBytes} bytes of meta and ${bodyBytes} of body (at most ${limits.metaBytes} and ${limits.bodyBytes})`,
    );
    this.callId = callId;
  }
}

export interface FrameLimits {
  metaBytes: number;
  bodyBytes: number;
}

/** A frame's parts, ready for one corked run of writes: header, meta and (if any) body. */
export function encodeFrame(callId: number, meta: unknown, body?: Buffer): Buffer[] {
  const m = Buffer.from(JSON.stringify(meta));
  const header = Buffer.allocUnsafe(FRAME_HEADER_BYTES);
  header.writeUInt32BE(callId, 0);
  header.writeUInt32BE(m.length, 4);
  header.writeUInt32BE(body?.length ?? 0, 8);
  return body?.length ? [header, m, body] : [header, m];
}

/**
 * Cuts a byte stream into frames. Chunks are kept until a whole frame is there and joined
 * once, so a 6 MB body that arrives in 64 KB reads is copied once rather than once per
 * read. The body handed on may share memory with later frames: read it, do not change it.
 * Throws FrameTooLarge (from push) as soon as a header is over the limits, before its body
 * is read; a meta that is not JSON throws too. Either way the stream cannot go on.
 */
export class FrameReader {
  private chunks: Buffer[] = [];
  private buffered = 0;
  /** Bytes needed before the next frame can be cut: its header, then all of it. */
  private needed = FRAME_HEADER_BYTES;
  private limits: FrameLimits;
  private readonly onFrame: (callId: number, meta: unknown, body: Buffer) => void;

  constructor(limits: FrameLimits, onFrame: (callId: number, meta: unknown, body: Buffer) => void) {
    this.limits = limits;
    this.onFrame = onFrame;
  }

  /** Other limits from the next frame on (e.g. larger ones once a connection is trusted). */
  limit(limits: FrameLimits): void {
    this.limits = limits;
  }

  push(chunk: Buffer): void {
    this.chunks.push(chunk);
    this.buffered += chunk.length;
    if (this.buffered < this.needed) return;
    const buf = this.chunks.length === 1 ? chunk : Buffer.concat(this.chunks, this.buffered);
    let off = 0;
    this.needed = FRAME_HEADER_BYTES;
    while (buf.length - off >= FRAME_HEADER_BYTES) {
      const callId = buf.readUInt32BE(off);
      const metaBytes = buf.readUInt32BE(off + 4);
      const bodyBytes = buf.readUInt32BE(off + 8);
      if (metaBytes > this.limits.metaBytes || bodyBytes > this.limits.bodyBytes)
        throw new FrameTooLarge(callId, metaBytes, bodyBytes, this.limits);
      const frameBytes = FRAME_HEADER_BYTES + metaBytes + bodyBytes;
      if (buf.length - off < frameBytes) {
        this.needed = frameBytes;
        break;
      }
      const metaEnd = off + FRAME_HEADER_BYTES + metaBytes;
      const meta: unknown = JSON.parse(buf.toString("utf8", off + FRAME_HEADER_BYTES, metaEnd));
      off += frameBytes;
      this.onFrame(callId, meta, buf.subarray(metaEnd, off));
    }
    const rest = off === buf.length ? undefined : buf.subarray(off);
    this.chunks = rest ? [rest] : [];
    this.buffered = rest?.length ?? 0;
  }
}

/** The part of a socket a FrameWriter writes to. */
export interface FrameSink {
  cork(): void;
  uncork(): void;
  write(chunk: Buffer, cb?: (err?: Error | null) => void): boolean;
}

/**
 * Writes frames; those written in one turn of the event loop leave in one send (corked
 * until the turn's end). E.g. 10 answers that finish in the same turn are one writev, not 10.
 */
export class FrameWriter {
  private readonly sink: FrameSink;
  private corked = false;

  constructor(sink: FrameSink) {
    this.sink = sink;
  }

  /** Resolves once the frame is handed to the kernel, or the connection is gone. */
  write(callId: number, meta: unknown, body?: Buffer): Promise<void> {
    return new Promise((resolve) => {
      this.send(callId, meta, body, () => resolve());
    });
  }

  /** write() without a promise; `done` (if any) once the frame is out or the connection gone. */
  send(callId: number, meta: unknown, body?: Buffer, done?: () => void): void {
    if (!this.corked) {
      this.corked = true;
      this.sink.cork();
      process.nextTick(() => {
        this.corked = false;
        this.sink.uncork();
      });
    }
    const parts = encodeFrame(callId, meta, body);
    for (let i = 0; i < parts.length - 1; i++) this.sink.write(parts[i]!);
    this.sink.write(parts[parts.length - 1]!, done && (() => done()));
  }
}

/** A call's meta as the shim reads it: only known fields of the right types. */
export function parseChannelCall(meta: unknown): ChannelCall | undefined {
  if (typeof meta !== "object" || meta === null) return undefined;
  const m = meta as Record<string, unknown>;
  if (typeof m.requestId !== "string" || m.requestId === "") return undefined;
  const call: ChannelCall = { requestId: m.requestId };
  if (m.cold === true) call.cold = true;
  if (typeof m.logType === "string") call.logType = m.logType;
  if (typeof m.triggerSource === "string") call.triggerSource = m.triggerSource;
  if (m.async === true) call.async = true;
  if (typeof m.attempt === "number" && Number.isInteger(m.attempt) && m.attempt >= 1)
    call.attempt = m.attempt;
  return call;
}

/** An answer's meta as the activator reads it; undefined when it is not one. */
export function parseChannelAnswer(meta: unknown): ChannelAnswer | undefined {
  if (typeof meta !== "object" || meta === null) return undefined;
  const m = meta as Record<string, unknown>;
  if (typeof m.status !== "number" || typeof m.headers !== "object" || m.headers === null) return undefined;
  return { status: m.status, headers: m.headers as Record<string, string> };
}
