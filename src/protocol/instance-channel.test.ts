import assert from "node:assert/strict";
import { describe, it } from "node:test";
import {
  encodeFrame,
  FRAME_HEADER_BYTES,
  FrameReader,
  FrameTooLarge,
  FrameWriter,
  parseChannelAnswer,
  parseChannelCall,
} from "./instance-channel.ts";

const LIMITS = { metaBytes: 1024, bodyBytes: 64 * 1024 };

function readAll(chunks: Buffer[]): Array<{ id: number; meta: unknown; body: string }> {
  const frames: Array<{ id: number; meta: unknown; body: string }> = [];
  const reader = new FrameReader(LIMITS, (id, meta, body) =>
    frames.push({ id, meta, body: body.toString() }),
  );
  for (const c of chunks) reader.push(c);
  return frames;
}

const one = Buffer.concat(encodeFrame(7, { requestId: "r1" }, Buffer.from('{"a":1}')));

describe("encodeFrame", () => {
  it("is the header (id, meta bytes, body bytes), the meta, then the body (the worked example)", () => {
    assert.equal(one.subarray(0, FRAME_HEADER_BYTES).toString("hex"), "000000070000001200000007");
    assert.equal(one.subarray(FRAME_HEADER_BYTES).toString(), '{"requestId":"r1"}{"a":1}');
    assert.equal(one.length, FRAME_HEADER_BYTES + 18 + 7);
  });
});

describe("FrameReader", () => {
  const cases: Array<{ why: string; chunks: Buffer[]; want: number }> = [
    { why: "a frame in one read, the usual case", chunks: [one], want: 1 },
    {
      why: "two frames in one read: answers that left in one send",
      chunks: [Buffer.concat([one, one])],
      want: 2,
    },
    {
      why: "a frame cut at every byte: TCP may split anywhere, the header included",
      chunks: [...one].map((b) => Buffer.from([b])),
      want: 1,
    },
    {
      why: "a frame and a half, then the rest: the half is kept for the next read",
      chunks: [Buffer.concat([one, one.subarray(0, 20)]), one.subarray(20)],
      want: 2,
    },
    {
      why: "a header alone waits for its meta and body",
      chunks: [one.subarray(0, FRAME_HEADER_BYTES)],
      want: 0,
    },
  ];
  for (const c of cases)
    it(c.why, () => {
      const frames = readAll(c.chunks);
      assert.equal(frames.length, c.want);
      for (const f of frames) assert.deepEqual(f, { id: 7, meta: { requestId: "r1" }, body: '{"a":1}' });
    });

  it("a body in many reads arrives whole and in order", () => {
    const body = Buffer.alloc(60 * 1024);
    for (let i = 0; i < body.length; i++) body[i] = i % 251;
    const frame = Buffer.concat(encodeFrame(9, {}, body));
    const chunks: Buffer[] = [];
    for (let off = 0; off < frame.length; off += 1000) chunks.push(frame.subarray(off, off + 1000));
    let got: Buffer | undefined;
    const reader = new FrameReader(LIMITS, (_id, _meta, b) => {
      got = Buffer.from(b);
    });
    for (const c of chunks) reader.push(c);
    assert.ok(got?.equals(body));
  });

  const tooLarge: Array<{ why: string; meta: number; body: number }> = [
    { why: "a meta over its limit", meta: 1025, body: 0 },
    { why: "a body over its limit (an event or answer past SCF's 6 MB)", meta: 2, body: 64 * 1024 + 1 },
  ];
  for (const c of tooLarge)
    it(`${c.why} throws FrameTooLarge from its header, before the rest is read`, () => {
      const header = Buffer.alloc(FRAME_HEADER_BYTES);
      header.writeUInt32BE(3, 0);
      header.writeUInt32BE(c.meta, 4);
      header.writeUInt32BE(c.body, 8);
      const reader = new FrameReader(LIMITS, () => assert.fail("no frame"));
      assert.throws(
        () => reader.push(header),
        (e: unknown) => e instanceof FrameTooLarge && e.callId === 3,
      );
    });

  it("a meta that is not JSON throws: the stream is not frames", () => {
    const header = Buffer.alloc(FRAME_HEADER_BYTES);
    header.writeUInt32BE(1, 0);
    header.writeUInt32BE(3, 4);
    const reader = new FrameReader(LIMITS, () => assert.fail("no frame"));
    assert.throws(() => reader.push(Buffer.concat([header, Buffer.from("{{{")])), SyntaxError);
  });
});

describe("FrameWriter", () => {
  it("frames written in one turn of the event loop leave together (one cork, one uncork)", async () => {
    const log: string[] = [];
    // As a socket: what is written while corked goes out (and its callbacks run) at uncork.
    const held: Array<() => void> = [];
    const writer = new FrameWriter({
      cork: () => log.push("cork"),
      uncork: () => {
        log.push("uncork");
        for (const cb of held.splice(0)) cb();
      },
      write: (_chunk, cb) => {
        log.push("write");
        if (cb) held.push(cb);
        return true;
      },
    });
    const sent = [
      writer.write(1, {}, Buffer.from("a")),
      writer.write(2, {}),
      writer.write(3, {}, Buffer.from("c")),
    ];
    assert.deepEqual(
      log.filter((l) => l !== "write"),
      ["cork"],
    );
    await Promise.all(sent);
    assert.deepEqual(
      log.filter((l) => l !== "write"),
      ["cork", "uncork"],
    );
    // Header, meta and body each: 3 + 2 + 3 writes.
    assert.equal(log.filter((l) => l === "write").length, 8);
  });
});

describe("parseChannelCall and parseChannelAnswer", () => {
  const calls: Array<{ why: string; meta: unknown; want: unknown }> = [
    { why: "the least a call is: its request id", meta: { requestId: "r" }, want: { requestId: "r" } },
    {
      why: "every field, each of its type",
      meta: { requestId: "r", cold: true, logType: "Tail", triggerSource: "timer", async: true, attempt: 2 },
      want: { requestId: "r", cold: true, logType: "Tail", triggerSource: "timer", async: true, attempt: 2 },
    },
    {
      why: "fields of the wrong type are dropped, not trusted",
      meta: { requestId: "r", cold: "yes", attempt: 0.5, async: 1, extra: 1 },
      want: { requestId: "r" },
    },
    { why: "no request id: not a call", meta: { cold: true }, want: undefined },
    { why: "an empty request id: not a call", meta: { requestId: "" }, want: undefined },
    { why: "not an object", meta: "r", want: undefined },
  ];
  for (const c of calls) it(`call: ${c.why}`, () => assert.deepEqual(parseChannelCall(c.meta), c.want));

  const answers: Array<{ why: string; meta: unknown; want: unknown }> = [
    {
      why: "a status and headers",
      meta: { status: 200, headers: { "x-updraft-duration-ms": "1" } },
      want: { status: 200, headers: { "x-updraft-duration-ms": "1" } },
    },
    { why: "no status: not an answer", meta: { headers: {} }, want: undefined },
    { why: "no headers: not an answer", meta: { status: 200 }, want: undefined },
    { why: "null", meta: null, want: undefined },
  ];
  for (const c of answers) it(`answer: ${c.why}`, () => assert.deepEqual(parseChannelAnswer(c.meta), c.want));
});
