import assert from "node:assert/strict";
import { chmodSync, mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Readable } from "node:stream";
import { after, before, describe, it } from "node:test";
import type { V1EndpointSlice } from "@kubernetes/client-node";
import { freePort, freePorts } from "../../test/support/ports.ts";
import type { UpdraftFunction } from "../api/v1alpha1.ts";
import type { UpdraftError } from "../lib/errors.ts";
import { UpdraftHeaders } from "../protocol/headers.ts";
import { ANSWER_LIMIT_BYTES } from "../protocol/http.ts";
import { Shim } from "../runtime/shim.ts";
import { Forwarder, readAnswer } from "./forwarder.ts";
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
let shimPort = 0;

before(async () => {
  const code = mkdtempSync(join(tmpdir(), "fwd-"));
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
      apiBasePort,
      provisioned: false,
      env: { ...(process.env as Record<string, string>) },
    },
    () => undefined,
  );
  await shim.start();
});
after(async () => {
  await shim.drain();
});

function setup(port: number) {
  const table = new FunctionTable({
    maxWaiting: 10,
    maxShare: (max) => max,
    onColdRequest: () => undefined,
  });
  table.setFunctions([fn("echo")]);
  table.setEndpointSlices([slice("echo", ["127.0.0.1"])]);
  return { table, st: table.get("ns", "echo")!, forwarder: new Forwarder(table, { port }) };
}

describe("Forwarder, against a real shim", () => {
  it("takes a slot, forwards, and answers with the function's result and the shim's headers", async () => {
    const { st, forwarder } = setup(shimPort);
    const r = await forwarder.invoke(st, Buffer.from('{"hello":"world"}'), "req-1");
    assert.deepEqual(JSON.parse(r.payload.toString()), { hello: "world" });
    assert.equal(r.functionError, false);
    assert.ok(Number(r.headers[UpdraftHeaders.durationMs]) >= 0);
    assert.equal(st.inFlight, 0, "the slot is given back");
    assert.equal(forwarder.inFlight, 0);
    await forwarder.close();
  });

  it("a function error is an answer (the caller gets SCF's code), not a retry", async () => {
    const { st, forwarder } = setup(shimPort);
    const r = await forwarder.invoke(st, Buffer.from('{"please":"fail"}'), "req-2");
    assert.equal(r.functionError, true);
    assert.equal(r.headers[UpdraftHeaders.functionError], "430");
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

describe("readAnswer: what an instance's answer may cost the activator", () => {
  it("an answer in several chunks is read whole", async () => {
    const body = Readable.from([Buffer.from('{"a":'), Buffer.from("1}")]);
    assert.equal((await readAnswer(body, "10.0.0.1")).toString(), '{"a":1}');
  });

  it("an answer past 6 MB and a little is not read further: ResultTooLarge, the stream destroyed", async () => {
    const mb = Buffer.alloc(1024 * 1024, 120);
    let produced = 0;
    const body = Readable.from(
      (function* () {
        // An instance that would send 100 MB: the activator stops after the limit.
        for (let i = 0; i < 100; i++) {
          produced++;
          yield mb;
        }
      })(),
    );
    await assert.rejects(readAnswer(body, "10.0.0.1"), (err: UpdraftError) => {
      assert.equal(err.code, "ResultTooLarge");
      return true;
    });
    assert.ok(body.destroyed);
    assert.ok(produced * mb.length <= ANSWER_LIMIT_BYTES + 2 * mb.length, `read ${produced} MB`);
  });
});
