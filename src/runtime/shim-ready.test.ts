import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { customShim } from "../../test/support/custom-shim.ts";
import { UpdraftHeaders } from "../protocol/headers.ts";
import { INVOKE_BODY_LIMIT_BYTES } from "../protocol/http.ts";
import { INSTANCE_KEY_ENV, INSTANCE_KEY_HEADER } from "../protocol/instance-key.ts";
import { Shim } from "./shim.ts";

// A custom runtime that says it is ready and then waits for events.
const BOOTSTRAP = `#!/bin/bash
api="http://$SCF_RUNTIME_API:$SCF_RUNTIME_API_PORT/runtime"
curl -s -X POST "$api/init/ready" -d '' >/dev/null
while true; do curl -s "$api/invocation/next" >/dev/null; done
`;

// A custom runtime that answers each event with the event.
const ECHO_BOOTSTRAP = `#!/bin/bash
api="http://$SCF_RUNTIME_API:$SCF_RUNTIME_API_PORT/runtime"
curl -s -X POST "$api/init/ready" -d '' >/dev/null
while true; do
  event=$(curl -s "$api/invocation/next")
  curl -s -X POST "$api/invocation/response" -d "$event" >/dev/null
done
`;

// A custom runtime that answers each event with the event, after 300 ms.
const SLOW_ECHO_BOOTSTRAP = `#!/bin/bash
api="http://$SCF_RUNTIME_API:$SCF_RUNTIME_API_PORT/runtime"
curl -s -X POST "$api/init/ready" -d '' >/dev/null
while true; do
  event=$(curl -s "$api/invocation/next")
  sleep 0.3
  curl -s -X POST "$api/invocation/response" -d "$event" >/dev/null
done
`;

// A custom runtime that prints two lines (one without its newline) and answers "ok".
const PRINTING_BOOTSTRAP = `#!/bin/bash
api="http://$SCF_RUNTIME_API:$SCF_RUNTIME_API_PORT/runtime"
curl -s -X POST "$api/init/ready" -d '' >/dev/null
while true; do
  curl -s "$api/invocation/next" >/dev/null
  echo "first line"
  printf "no newline"
  curl -s -X POST "$api/invocation/response" -d '"ok"' >/dev/null
done
`;

// A custom runtime that prints while it loads, then a line per event, and answers "ok".
const LOADING_BOOTSTRAP = `#!/bin/bash
api="http://$SCF_RUNTIME_API:$SCF_RUNTIME_API_PORT/runtime"
echo "loading the function"
curl -s -X POST "$api/init/ready" -d '' >/dev/null
while true; do
  curl -s "$api/invocation/next" >/dev/null
  echo "ran"
  curl -s -X POST "$api/invocation/response" -d '"ok"' >/dev/null
done
`;

describe("a function pod's shim at its edge", () => {
  it("answers as its pod (the UID the downward API gave it), which is what the activator checks an announced address by", async () => {
    const uid = "0f8fad5b-d9cb-469f-a165-70867728950e";
    const { cfg, port } = await customShim("ready", "scf_bootstrap", BOOTSTRAP, { UPDRAFT_POD_UID: uid });
    const shim = new Shim(cfg, () => undefined);
    try {
      await shim.start();
      assert.equal(shim.ready, true);
      const r = await fetch(`http://127.0.0.1:${port}/readyz`);
      await r.arrayBuffer();
      assert.equal(r.status, 200);
      assert.equal(r.headers.get(UpdraftHeaders.podUid), uid);
    } finally {
      await shim.drain();
    }
  });

  it("an /invoke body over SCF's 6 MB is refused 413 (RequestTooLarge) without being read whole", async () => {
    const { cfg, port } = await customShim("limit", "scf_bootstrap", BOOTSTRAP);
    const shim = new Shim(cfg, () => undefined);
    try {
      await shim.start();
      const r = await fetch(`http://127.0.0.1:${port}/invoke`, {
        method: "POST",
        body: Buffer.alloc(INVOKE_BODY_LIMIT_BYTES + 1, 120),
      }).catch((err: unknown) => err);
      // Refused at the limit: either the answer arrived, or the connection was dropped
      // while the rest was still being sent — never a run.
      if (r instanceof Response) {
        assert.equal(r.status, 413);
        assert.equal(((await r.json()) as { errorType: string }).errorType, "RequestTooLarge");
      } else assert.match(String((r as Error).cause ?? r), /ECONNRESET|EPIPE|other side closed|SocketError/);
    } finally {
      await shim.drain();
    }
  });

  it("every call but a probe needs the instance's key: 401 without it or with another, served with it", async () => {
    const key = "k3y-of-demo-hello";
    const { cfg, port } = await customShim("key", "bootstrap", ECHO_BOOTSTRAP, { [INSTANCE_KEY_ENV]: key });
    assert.equal(cfg.env[INSTANCE_KEY_ENV], undefined, "the function's environment does not carry the key");
    const shim = new Shim(cfg, () => undefined);
    const call = async (headers: Record<string, string>) => {
      const r = await fetch(`http://127.0.0.1:${port}/invoke`, { method: "POST", headers, body: '{"x":1}' });
      return { status: r.status, body: await r.text() };
    };
    try {
      await shim.start();
      const probe = await fetch(`http://127.0.0.1:${port}/readyz`);
      await probe.arrayBuffer();
      assert.equal(probe.status, 200, "the kubelet's probes carry no key");
      const none = await call({});
      assert.equal(none.status, 401);
      assert.equal((JSON.parse(none.body) as { errorType: string }).errorType, "InstanceKeyRequired");
      assert.equal((await call({ [INSTANCE_KEY_HEADER]: "k3y-of-demo-other" })).status, 401);
      const ok = await call({ [INSTANCE_KEY_HEADER]: key });
      assert.equal(ok.status, 200);
      assert.deepEqual(JSON.parse(ok.body), { x: 1 });
    } finally {
      await shim.drain();
    }
  });

  // Seen under faults: each activator killed mid-call left its call counted for good, and
  // after perInstance of them the instance answered "at capacity" to everything.
  it("a call whose caller went away mid-run gives its place back when the run ends", async () => {
    const { cfg, port } = await customShim("gone", "bootstrap", SLOW_ECHO_BOOTSTRAP, {
      UPDRAFT_PER_INSTANCE: "1",
    });
    // The shim's output says when the first call has started running.
    let started: () => void = () => undefined;
    const running = new Promise<void>((r) => {
      started = r;
    });
    const shim = new Shim(cfg, (line) => {
      if (line.startsWith("START")) started();
    });
    try {
      await shim.start();
      // The caller sends its event and is gone before the answer (the run takes 300 ms).
      const aborted = new AbortController();
      const gone = fetch(`http://127.0.0.1:${port}/invoke`, {
        method: "POST",
        body: '{"n":1}',
        signal: aborted.signal,
      }).catch(() => undefined);
      await running;
      aborted.abort();
      await gone;
      // Once its run is over, the place is free again: the next call is served.
      const deadline = Date.now() + 5000;
      for (;;) {
        const r = await fetch(`http://127.0.0.1:${port}/invoke`, { method: "POST", body: '{"n":2}' });
        const body = await r.text();
        if (r.status === 200) {
          assert.deepEqual(JSON.parse(body), { n: 2 });
          break;
        }
        assert.equal(r.status, 429, body);
        assert.ok(Date.now() < deadline, "the instance stayed at capacity after its caller went away");
      }
    } finally {
      await shim.drain();
    }
  });

  it("what the function prints reaches the pod's log tagged with its request id, between its START and END", async () => {
    const { cfg, port } = await customShim("printing", "bootstrap", PRINTING_BOOTSTRAP);
    const podLog: string[] = [];
    const shim = new Shim(cfg, (line) => podLog.push(line));
    try {
      await shim.start();
      const r = await fetch(`http://127.0.0.1:${port}/invoke`, {
        method: "POST",
        body: "{}",
        headers: { [UpdraftHeaders.requestId]: "req-print" },
      });
      assert.equal(r.status, 200, await r.text());
      // One "line" given to the pod's log may hold several: split as the log file does.
      const lines = podLog.join("\n").split("\n");
      const start = lines.findIndex((l) => l.startsWith("START RequestId:req-print"));
      const end = lines.findIndex((l) => l.startsWith("END RequestId:req-print"));
      assert.ok(start >= 0 && end > start, lines.join("\n"));
      const between = lines.slice(start + 1, end);
      // The last line, without its newline, is still this invocation's.
      for (const text of ["first line", "no newline"])
        assert.ok(between.includes(`RequestId:req-print ${text}`), `${text} in ${between.join(" | ")}`);
    } finally {
      await shim.drain();
    }
  });

  it("what the function printed while it loaded is its first invocation's log, and each line is in one invocation's log only", async () => {
    const { cfg, port } = await customShim("loading", "bootstrap", LOADING_BOOTSTRAP);
    const shim = new Shim(cfg, () => undefined);
    const logOf = async (id: string) => {
      const r = await fetch(`http://127.0.0.1:${port}/invoke`, {
        method: "POST",
        body: "{}",
        headers: { [UpdraftHeaders.requestId]: id, [UpdraftHeaders.logType]: "Tail" },
      });
      assert.equal(r.status, 200, await r.text());
      return Buffer.from(r.headers.get(UpdraftHeaders.logResult) ?? "", "base64")
        .toString()
        .split("\n");
    };
    try {
      await shim.start();
      const first = await logOf("req-first");
      assert.ok(first.includes("loading the function"), first.join("\n"));
      assert.equal(first.filter((l) => l === "ran").length, 1, first.join("\n"));
      const second = await logOf("req-second");
      assert.ok(!second.includes("loading the function"), second.join("\n"));
      assert.equal(second.filter((l) => l === "ran").length, 1, second.join("\n"));
    } finally {
      await shim.drain();
    }
  });
});
