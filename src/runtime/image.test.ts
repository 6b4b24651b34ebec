import assert from "node:assert/strict";
import { createServer, type Server } from "node:http";
import { after, before, describe, it } from "node:test";
import { EVENT_INVOKE_PATH, ImageWorker } from "./image.ts";

// A stand-in for a user's image: SCF's image contract on a port of its own.
let server: Server;
let port = 0;
const seen: Array<{ path: string; headers: Record<string, unknown>; body: string }> = [];

before(async () => {
  server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => {
      const body = Buffer.concat(chunks).toString();
      seen.push({ path: req.url ?? "", headers: req.headers, body });
      const event = JSON.parse(body) as { do?: string };
      if (event.do === "fail") res.writeHead(500).end("broken");
      else if (event.do === "crash") req.socket.destroy();
      else if (event.do === "hang") return;
      else res.end(JSON.stringify({ got: event }));
    });
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", () => r()));
  port = (server.address() as { port: number }).port;
});
after(() => {
  server.closeAllConnections();
  server.close();
});

describe("ImageWorker", () => {
  const worker = () =>
    new ImageWorker({ host: "127.0.0.1", port, headers: (id) => ({ "x-scf-request-id": id }) });

  it("is initialised once the image's port accepts connections", async () => {
    const w = worker();
    w.start();
    await w.initDone;
    await w.close();
  });

  const cases: Array<{ why: string; event: unknown; kind: string }> = [
    { why: "a 2xx answer is the result", event: { do: "echo" }, kind: "response" },
    { why: "any other status is a function error (430)", event: { do: "fail" }, kind: "error" },
    { why: "a broken connection is the server gone (439)", event: { do: "crash" }, kind: "exited" },
    { why: "no answer within the time-out is 433", event: { do: "hang" }, kind: "timeout" },
  ];
  for (const c of cases)
    it(c.why, async () => {
      const w = worker();
      const o = await w.invoke("req-1", Buffer.from(JSON.stringify(c.event)), 300, "timer");
      assert.equal(o.kind, c.kind);
      if (o.kind === "response") assert.deepEqual(JSON.parse(o.body.toString()), { got: c.event });
      assert.equal(w.busy, false);
      await w.close();
    });

  it("posts the event to /event-invoke with SCF's headers and the trigger source", () => {
    const s = seen.find((x) => x.body.includes("echo"))!;
    assert.equal(s.path, EVENT_INVOKE_PATH);
    assert.equal(s.headers["x-scf-request-id"], "req-1");
    assert.equal(s.headers["x-scf-trigger-src"], "timer");
  });

  it("an init that never sees the port keeps waiting until it is stopped", async () => {
    const w = new ImageWorker({ host: "127.0.0.1", port: 1, headers: () => ({}) });
    w.start();
    w.kill();
    await assert.rejects(w.initDone);
  });
});
