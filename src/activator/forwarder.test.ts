import assert from "node:assert/strict";
import { chmodSync, writeFileSync } from "node:fs";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import type { V1EndpointSlice } from "@kubernetes/client-node";
import { Agent } from "undici";
import { freePort, freePorts } from "../../test/support/ports.ts";
import { tempDir } from "../../test/support/temp-dir.ts";
import type { UpdraftFunction } from "../api/v1alpha1.ts";
import type { UpdraftError } from "../lib/errors.ts";
import { UpdraftHeaders } from "../protocol/headers.ts";
import { Shim } from "../runtime/shim.ts";
import { exchange, Forwarder, notDelivered } from "./forwarder.ts";
import { InstanceChannel } from "./instance-channel.ts";
import { FunctionTable } from "./table.ts";

// A real runtime shim on ports of its own, running a custom runtime (bash and curl against
// SCF's runtime API) that echoes the event, or fails when the event says so.
const BOOTSTRAP = `#!/bin/bash
api="http://$SCF_RUNTIME_API:$SCF_RUNTIME_API_PORT/runtime"
curl -s -X POST "$api/init/ready" -d '' >/dev/null
while true; do
  event=$(curl -s "$api/invocation/next")
  case "$event" in
    *fail*) curl -s -X POST "$api/invocation/error" -d 'asked to fail' >/dev/null ;;
    *) curl -s -X POST "$api/invocation/response" -d "$event" >/dev/null ;;
  esac
done
`;

const fn = (name: string): UpdraftFunction =>
  ({
    apiVersion: "updraft.dev/v1alpha1",
    kind: "Function",
    metadata: { name, namespace: "ns" },
    spec: {
      runtime: "custom",
      timeoutSeconds: 1,
      initTimeoutSeconds: 1,
      code: { inline: { bootstrap: "" } },
      concurrency: { perInstance: 1 },
    },
  }) as UpdraftFunction;

const slice = (name: string, ips: string[]): V1EndpointSlice => ({
  addressType: "IPv4",
  metadata: { name: `fn-${name}-x`, namespace: "ns", labels: { "updraft.dev/function": name } },
  endpoints: ips.map((ip) => ({ addresses: [ip], conditions: { ready: true } })),
});

let shim: Shim;
/** What the shim printed: SCF's log lines, one START per run. */
const shimLines: string[] = [];
let shimPort = 0;

before(async () => {
  const code = tempDir("fwd");
  writeFileSync(join(code, "bootstrap"), BOOTSTRAP);
  chmodSync(join(code, "bootstrap"), 0o755);
  // Both at once: taken one after the other, the kernel may hand out the same port twice.
  const [port, apiBasePort] = (await freePorts(2)) as [number, number];
  shimPort = port;
  shim = new Shim(
    {
      runtime: "custom",
      handler: "",
      functionType: "Event",
      codeDir: code,
      appDir: process.cwd(),
      memoryMB: 128,
      timeoutMs: 1000,
      initTimeoutMs: 5000,
      perInstance: 1,
      port: shimPort,
      channelPort: 0,
      apiBasePort,
      provisioned: false,
      env: { ...(process.env as Record<string, string>) },
    },
    (line) => shimLines.push(line),
  );
  await shim.start();
});
after(async () => {
  await shim.drain();
});

function setup(port: number, channelPort?: number) {
  const table = new FunctionTable({
    maxWaiting: 10,
    maxShare: (max) => max,
    onColdRequest: () => undefined,
  });
  table.setFunctions([fn("echo")]);
  table.setEndpointSlices([slice("echo", ["127.0.0.1"])]);
  return {
    table,
    st: table.get("ns", "echo")!,
    forwarder: new Forwarder(table, channelPort === undefined ? { port } : { port, channelPort }),
  };
}

for (const transport of ["the instance channel", "HTTP"] as const)
  describe(`Forwarder, against a real shim, over ${transport}`, () => {
    const channelPort = () => (transport === "HTTP" ? undefined : shim.channelPort);
    it("takes a slot, forwards, and answers with the function's result and the shim's headers", async () => {
      const { st, forwarder } = setup(shimPort, channelPort());
      const r = await forwarder.invoke(st, Buffer.from('{"hello":"world"}'), "req-1");
      assert.deepEqual(JSON.parse(r.payload.toString()), { hello: "world" });
      assert.equal(r.functionError, false);
      assert.ok(Number(r.headers[UpdraftHeaders.durationMs]) >= 0);
      assert.equal(st.inFlight, 0, "the slot is given back");
      assert.equal(forwarder.inFlight, 0);
      const channel = st.instances[0]!.channel;
      if (transport === "HTTP") assert.equal(channel, undefined);
      else
        assert.ok(
          channel instanceof InstanceChannel && channel.usable,
          "on the channel, kept for the next call",
        );
      await forwarder.close();
    });

    it("a function error is an answer (the caller gets SCF's code), not a retry", async () => {
      const { st, forwarder } = setup(shimPort, channelPort());
      const r = await forwarder.invoke(st, Buffer.from('{"please":"fail"}'), "req-2");
      assert.equal(r.functionError, true);
      assert.equal(r.headers[UpdraftHeaders.functionError], "430");
      await forwarder.close();
    });

    it("an async event delivered again gets the run it had, marked a repeat, and does not run twice", async () => {
      const { st, forwarder } = setup(shimPort, channelPort());
      const id = `async-${transport}`;
      const first = await forwarder.invoke(st, Buffer.from('{"n":1}'), id, { async: true, attempt: 1 });
      const again = await forwarder.invoke(st, Buffer.from('{"n":1}'), id, { async: true, attempt: 1 });
      assert.equal(again.payload.toString(), first.payload.toString());
      assert.equal(shimLines.filter((l) => l.startsWith(`START RequestId:${id}`)).length, 1);
      await forwarder.close();
    });
  });

describe("Forwarder, against a real shim", () => {
  it("an instance with no channel (older than it) is reached over HTTP, and the channel tried again after a minute", async () => {
    const { st, forwarder } = setup(shimPort, await freePort());
    const r = await forwarder.invoke(st, Buffer.from('{"hello":"http"}'), "req-old");
    assert.deepEqual(JSON.parse(r.payload.toString()), { hello: "http" });
    const inst = st.instances[0]!;
    assert.equal(inst.channel, undefined);
    const waitMs = inst.noChannelUntil! - Date.now();
    assert.ok(waitMs > 55_000 && waitMs <= 60_000, `HTTP only for ${waitMs} ms`);
    await forwarder.close();
  });

  it("an event over the instance's limit goes over HTTP (413 for it alone), and the channel carries on", async () => {
    const { st, forwarder } = setup(shimPort, shim.channelPort);
    await forwarder.invoke(st, Buffer.from('{"first":1}'), "req-small");
    const channel = st.instances[0]!.channel;
    assert.ok(channel instanceof InstanceChannel);
    await assert.rejects(
      forwarder.invoke(st, Buffer.alloc(6 * 1024 * 1024 + 1, 32), "req-huge"),
      (e: UpdraftError) => e.code === "InternalError" && /instance answered 413/.test(e.message),
    );
    assert.equal(st.instances[0]!.channel, channel, "the same channel, still open");
    assert.ok(channel.usable);
    const r = await forwarder.invoke(st, Buffer.from('{"after":1}'), "req-after");
    assert.deepEqual(JSON.parse(r.payload.toString()), { after: 1 });
    await forwarder.close();
  });

  it("an instance its slices drop has its channel ended now, not after a minute idle", async () => {
    const { table, st, forwarder } = setup(shimPort, shim.channelPort);
    await forwarder.invoke(st, Buffer.from('{"first":1}'), "req-drop");
    const channel = st.instances[0]!.channel!;
    assert.ok(channel.usable);
    table.setEndpointSlices([slice("echo", [])]);
    assert.equal(st.instances.length, 0);
    assert.equal(channel.usable, false, "retired as the instance left");
    // The connection closes (both ends ended) long before the 60 s idle time-out.
    await channel.closed;
    await forwarder.close();
  });

  it("an instance that refuses connections is left, and with no other the request fails coded at its deadline", async () => {
    const closed = await freePort();
    const { st, forwarder } = setup(closed);
    const t0 = Date.now();
    await assert.rejects(
      forwarder.invoke(st, Buffer.from("{}"), "req-3"),
      (e: { code?: string }) => e.code === "NoInstanceReady",
    );
    // initTimeoutSeconds + timeoutSeconds: the wait for an instance is bounded.
    assert.ok(Date.now() - t0 >= 1900, `waited ${Date.now() - t0} ms`);
    await forwarder.close();
  });

  it("refuses once closed, with a code", async () => {
    const { st, forwarder } = setup(shimPort);
    await forwarder.close();
    await assert.rejects(
      forwarder.invoke(st, Buffer.from("{}"), "req-4"),
      (e: { code?: string }) => e.code === "NoInstanceReady",
    );
  });
});

describe("exchange: what an instance's answer may cost the activator", () => {
  let server: Server;
  let origin = "";
  let sentBytes = 0;
  let hugeClosed: Promise<void> = Promise.resolve();
  const agent = new Agent();
  before(async () => {
    server = createServer((req, res) => {
      req.resume();
      if (req.url === "/chunks") {
        res.writeHead(200, { "content-type": "application/json", "x-extra": "kept" });
        res.write('{"a":');
        setImmediate(() => res.end("1}"));
      } else if (req.url === "/broken") {
        // The answer begins, then the connection goes: the function ran.
        res.writeHead(200, { "content-length": "100" });
        res.write("{");
        setImmediate(() => res.socket?.destroy());
      } else if (req.url === "/early-hints") {
        res.writeEarlyHints({ link: "</style.css>; rel=preload" });
        res.writeHead(201).end("after the hints");
      } else {
        // An instance that would send 100 MB: the activator stops after the limit.
        const mb = Buffer.alloc(1024 * 1024, 120);
        hugeClosed = new Promise((r) => res.once("close", r));
        res.writeHead(200);
        let i = 0;
        const more = () => {
          while (i < 100 && !res.destroyed) {
            i++;
            sentBytes += mb.length;
            if (!res.write(mb)) return void res.once("drain", more);
          }
          res.end();
        };
        more();
      }
    });
    await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
    origin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  after(async () => {
    await agent.close();
    server.closeAllConnections();
    await new Promise((r) => server.close(r));
  });

  it("an answer in several chunks is read whole, with its status and headers", async () => {
    const a = await exchange(agent, { origin, path: "/chunks", method: "POST", body: "{}" }, "127.0.0.1");
    assert.equal(a.statusCode, 200);
    assert.equal(a.headers["x-extra"], "kept");
    assert.equal(a.body.toString(), '{"a":1}');
  });

  it("an informational answer (103) is skipped: the final answer is what comes back", async () => {
    const a = await exchange(agent, { origin, path: "/early-hints", method: "GET" }, "127.0.0.1");
    assert.equal(a.statusCode, 201);
    assert.equal(a.body.toString(), "after the hints");
  });

  it("an answer broken off after it began is a coded error, never 'not delivered' (which would run it again)", async () => {
    await assert.rejects(
      exchange(agent, { origin, path: "/broken", method: "POST", body: "{}" }, "127.0.0.1"),
      (err: UpdraftError) => {
        assert.equal(err.code, "InternalError");
        assert.match(err.message, /broke off its answer/);
        assert.equal(notDelivered(err), false);
        return true;
      },
    );
  });

  it("an answer past 6 MB and a little is not read further: ResultTooLarge, the connection dropped", async () => {
    await assert.rejects(
      exchange(agent, { origin, path: "/huge", method: "GET" }, "127.0.0.1"),
      (err: UpdraftError) => {
        assert.equal(err.code, "ResultTooLarge");
        return true;
      },
    );
    // The server's answer ends when the dropped connection reaches it, short of the 100 MB.
    await hugeClosed;
    assert.ok(sentBytes < 100 * 1024 * 1024, `the server sent ${sentBytes} bytes: all of it`);
  });
});
