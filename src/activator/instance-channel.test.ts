import assert from "node:assert/strict";
import { createServer, type Server, type Socket } from "node:net";
import { after, describe, it } from "node:test";
import { freePort } from "../../test/support/ports.ts";
import type { UpdraftError } from "../lib/errors.ts";
import {
  type ChannelCall,
  encodeFrame,
  FRAME_HEADER_BYTES,
  FrameReader,
  GOAWAY_CALL_ID,
} from "../protocol/instance-channel.ts";
import { ChannelServer } from "../runtime/channel.ts";
import type { InvokeResult } from "../runtime/invoke-result.ts";
import { type ChannelOutcome, InstanceChannel } from "./instance-channel.ts";

// Both ends of the channel on real sockets: the shim's server with a hand-written host (the
// shim's answer(): here it echoes, after the event's delayMs), and the activator's client.
function echoHost(key: string | undefined) {
  const calls: ChannelCall[] = [];
  const delivered: string[] = [];
  return {
    calls,
    delivered,
    instanceKey: () => key,
    log: () => undefined,
    async answer(call: ChannelCall, event: Buffer, deliver: (r: InvokeResult) => Promise<void>) {
      calls.push(call);
      const { delayMs = 0 } = JSON.parse(event.toString()) as { delayMs?: number };
      await new Promise((r) => setTimeout(r, delayMs));
      await deliver({ status: 200, headers: { "x-updraft-request-id": call.requestId }, body: event });
      delivered.push(call.requestId);
    },
  };
}

async function channelServer(key: string | undefined, helloTimeoutMs?: number) {
  const host = echoHost(key);
  const server = new ChannelServer(host, helloTimeoutMs === undefined ? {} : { helloTimeoutMs });
  await server.listen(0);
  return { host, server };
}

const answer = (o: ChannelOutcome) => {
  assert.equal(typeof o, "object", `an answer, not ${String(o)}`);
  return o as Exclude<ChannelOutcome, string>;
};

/** A raw server that plays a misbehaving shim: `onCall` gets each call frame after the hello. */
async function rawShim(
  onCall: (socket: Socket, callId: number) => void,
  allowHalfOpen = false,
): Promise<{ port: number; server: Server }> {
  const server = createServer({ allowHalfOpen }, (socket) => {
    let hello = false;
    const reader = new FrameReader({ metaBytes: 65536, bodyBytes: 1 << 24 }, (callId) => {
      if (!hello) hello = true;
      else onCall(socket, callId);
    });
    socket.on("data", (c: Buffer) => reader.push(c));
    socket.on("error", () => undefined);
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  return { port: (server.address() as { port: number }).port, server };
}

/** Polls a condition every 5 ms, failing after 5 s. */
async function waitUntil(check: () => boolean): Promise<void> {
  const deadline = Date.now() + 5000;
  while (!check()) {
    if (Date.now() > deadline) throw new Error("condition not met in 5 s");
    await new Promise((r) => setTimeout(r, 5));
  }
}

const servers: Array<{ close(): unknown }> = [];
after(() => {
  for (const s of servers) s.close();
});

describe("the instance channel, both ends", () => {
  it("answers come back by call id, in the order the calls finish, on one connection", async () => {
    const { host, server } = await channelServer("k1");
    servers.push({ close: () => server.close(0) });
    const channel = new InstanceChannel("127.0.0.1", server.port, "k1", () => undefined);
    const order: string[] = [];
    const sent = [40, 0, 15].map((delayMs, i) =>
      channel.call({ requestId: `r${i}` }, Buffer.from(JSON.stringify({ delayMs })), 5000).then((o) => {
        order.push(`r${i}`);
        return answer(o);
      }),
    );
    const answers = await Promise.all(sent);
    assert.deepEqual(order, ["r1", "r2", "r0"]);
    answers.forEach((a, i) => {
      assert.equal(a.statusCode, 200);
      assert.equal(a.headers["x-updraft-request-id"], `r${i}`);
      assert.deepEqual(JSON.parse(a.body.toString()), { delayMs: [40, 0, 15][i] });
    });
    assert.equal(host.calls.length, 3);
    assert.equal(server.connections, 1);
    channel.close();
  });

  it("a wrong key is refused at the hello: the call fails coded and nothing runs", async () => {
    const { host, server } = await channelServer("k1");
    servers.push({ close: () => server.close(0) });
    let gone = false;
    const channel = new InstanceChannel("127.0.0.1", server.port, "not-k1", () => {
      gone = true;
    });
    await assert.rejects(channel.call({ requestId: "r" }, Buffer.from("{}"), 5000), (e: UpdraftError) => {
      assert.equal(e.code, "InternalError");
      assert.match(e.message, /refused the activator's key/);
      return true;
    });
    assert.equal(host.calls.length, 0);
    assert.equal(gone, true);
    assert.equal(channel.usable, false);
  });

  it("nothing listening: 'refused' (the forwarder asks the HTTP port next)", async () => {
    const channel = new InstanceChannel("127.0.0.1", await freePort(), "k", () => undefined);
    assert.equal(await channel.call({ requestId: "r" }, Buffer.from("{}"), 5000), "refused");
  });

  it("a draining shim's GOAWAY closes an idle connection (the forwarder opens another for the next call)", async () => {
    const { server } = await channelServer(undefined);
    let gone = false;
    const channel = new InstanceChannel("127.0.0.1", server.port, undefined, () => {
      gone = true;
    });
    answer(await channel.call({ requestId: "r" }, Buffer.from("{}"), 5000));
    await server.close(2000);
    assert.equal(gone, true);
    assert.equal(channel.usable, false);
  });

  it("a call in flight when the shim drains gets its real answer; then both ends close", async () => {
    const { host, server } = await channelServer(undefined);
    const channel = new InstanceChannel("127.0.0.1", server.port, undefined, () => undefined);
    const running = channel.call({ requestId: "running" }, Buffer.from('{"delayMs":100}'), 5000);
    await waitUntil(() => host.calls.length === 1);
    const closing = server.close(5000);
    const a = answer(await running);
    assert.equal(a.headers["x-updraft-request-id"], "running");
    await closing;
    await channel.closed;
    assert.equal(channel.usable, false);
    assert.equal(server.connections, 0);
  });

  it("after GOAWAY, a call already sent is still answered, and the activator then ends its side", async () => {
    let sawEnd!: () => void;
    const ended = new Promise<void>((r) => {
      sawEnd = r;
    });
    const { port, server } = await rawShim((socket, callId) => {
      socket.write(Buffer.concat(encodeFrame(GOAWAY_CALL_ID, {})));
      setImmediate(() =>
        socket.write(Buffer.concat(encodeFrame(callId, { status: 200, headers: {} }, Buffer.from("{}")))),
      );
      socket.once("end", () => {
        sawEnd();
        socket.end();
      });
    }, true);
    servers.push(server);
    const channel = new InstanceChannel("127.0.0.1", port, "k", () => undefined);
    answer(await channel.call({ requestId: "r" }, Buffer.from("{}"), 5000));
    assert.equal(channel.usable, false, "no new call after GOAWAY");
    await ended;
  });

  it("retire() takes no new call and ends the connection once the calls on it are answered", async () => {
    const { server } = await channelServer(undefined);
    servers.push({ close: () => server.close(0) });
    const channel = new InstanceChannel("127.0.0.1", server.port, undefined, () => undefined);
    const running = channel.call({ requestId: "r" }, Buffer.from('{"delayMs":50}'), 5000);
    const retired = channel.retire();
    assert.equal(await channel.call({ requestId: "late" }, Buffer.from("{}"), 5000), "refused", "not sent");
    answer(await running);
    await retired;
    await waitUntil(() => server.connections === 0);
  });

  it("a connection lost mid-call without GOAWAY is InternalError: it may have run, so it is not sent again", async () => {
    const { port, server } = await rawShim((socket) => socket.destroy());
    servers.push(server);
    const channel = new InstanceChannel("127.0.0.1", port, "k", () => undefined);
    await assert.rejects(channel.call({ requestId: "r" }, Buffer.from("{}"), 5000), (e: UpdraftError) => {
      assert.equal(e.code, "InternalError");
      assert.match(e.message, /closed its channel before answering/);
      return true;
    });
  });

  it("an answer over the limit is ResultTooLarge from its header alone; the connection is dropped", async () => {
    let closed!: () => void;
    const serverSawClose = new Promise<void>((r) => {
      closed = r;
    });
    const { port, server } = await rawShim((socket, callId) => {
      const header = Buffer.alloc(FRAME_HEADER_BYTES);
      header.writeUInt32BE(callId, 0);
      header.writeUInt32BE(2, 4);
      header.writeUInt32BE(100 * 1024 * 1024, 8); // says 100 MB follow; none are sent
      socket.write(Buffer.concat([header, Buffer.from("{}")]));
      socket.on("close", closed);
    });
    servers.push(server);
    const channel = new InstanceChannel("127.0.0.1", port, "k", () => undefined);
    await assert.rejects(channel.call({ requestId: "r" }, Buffer.from("{}"), 5000), (e: UpdraftError) => {
      assert.equal(e.code, "ResultTooLarge");
      return true;
    });
    await serverSawClose;
  });

  it("a call not answered within its time is InternalError, and its late answer is dropped", async () => {
    const { host, server } = await channelServer(undefined);
    servers.push({ close: () => server.close(0) });
    const channel = new InstanceChannel("127.0.0.1", server.port, undefined, () => undefined);
    await assert.rejects(
      channel.call({ requestId: "slow" }, Buffer.from('{"delayMs":300}'), 50),
      (e: UpdraftError) => e.code === "InternalError" && /did not answer in 50 ms/.test(e.message),
    );
    // The late answer arrives and is dropped; the channel still carries the next call.
    await waitUntil(() => host.delivered.includes("slow"));
    const next = answer(await channel.call({ requestId: "next" }, Buffer.from("{}"), 5000));
    assert.equal(next.headers["x-updraft-request-id"], "next");
    channel.close();
  });

  it("an instance that stops reading: a call whose frame never left by its end closes the channel, and the bytes with it", async () => {
    // A shim that reads the hello, then nothing: a 4 MB event cannot all leave (socket
    // buffers are far smaller), so it stays queued in the activator unless the channel goes.
    const server = createServer((socket) => {
      socket.once("data", () => socket.pause());
      socket.on("error", () => undefined);
    });
    await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
    servers.push(server);
    const port = (server.address() as { port: number }).port;
    const channel = new InstanceChannel("127.0.0.1", port, undefined, () => undefined);
    await assert.rejects(
      channel.call({ requestId: "stuck" }, Buffer.alloc(4 * 1024 * 1024, 32), 200),
      (e: UpdraftError) => e.code === "InternalError" && /did not answer in 200 ms/.test(e.message),
    );
    assert.equal(channel.usable, false);
    await channel.closed;
  });

  it("a connection that shows no key in time is closed by the shim", async () => {
    const { server } = await channelServer("k1", 50);
    servers.push({ close: () => server.close(0) });
    const { connect } = await import("node:net");
    const socket = connect(server.port, "127.0.0.1");
    socket.on("error", () => undefined);
    await new Promise<void>((r) => socket.once("close", () => r()));
    await waitUntil(() => server.connections === 0);
  });

  it("before its hello a connection is read no further than a hello: a 2 KB first frame closes it", async () => {
    const { host, server } = await channelServer("k1");
    servers.push({ close: () => server.close(0) });
    const { connect } = await import("node:net");
    const socket = connect(server.port, "127.0.0.1");
    const closedByShim = new Promise<void>((r) => socket.once("close", () => r()));
    socket.on("error", () => undefined);
    socket.write(Buffer.concat(encodeFrame(0, { key: "x".repeat(2048) })));
    await closedByShim;
    assert.equal(host.calls.length, 0);
  });

  it("the shim closes a connection that sends a frame over the event limit", async () => {
    const { host, server } = await channelServer(undefined);
    servers.push({ close: () => server.close(0) });
    const { connect } = await import("node:net");
    const socket = connect(server.port, "127.0.0.1");
    const closedByShim = new Promise<void>((r) => socket.once("close", () => r()));
    socket.on("error", () => undefined);
    const header = Buffer.alloc(FRAME_HEADER_BYTES);
    header.writeUInt32BE(1, 0);
    header.writeUInt32BE(2, 4);
    header.writeUInt32BE(7 * 1024 * 1024, 8);
    socket.write(Buffer.concat([...encodeFrame(0, { key: "" }), header, Buffer.from("{}")]));
    await closedByShim;
    assert.equal(host.calls.length, 0);
  });
});
