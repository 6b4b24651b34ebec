import assert from "node:assert/strict";
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { freePorts } from "../../test/support/ports.ts";
import { tempDir } from "../../test/support/temp-dir.ts";
import { SPECIALISE_PATH } from "../protocol/pool.ts";
import { shimConfigFromEnv } from "./config.ts";
import { parseSpecialiseRequest, Shim } from "./shim.ts";
import { POOL_WORKER_ENV } from "./worker.ts";

// A custom runtime (bash + curl against SCF's runtime API) that answers with the event and
// the function's name from its environment: proof that the function's env reached it.
const BOOTSTRAP = `#!/bin/bash
api="http://$SCF_RUNTIME_API:$SCF_RUNTIME_API_PORT/runtime"
curl -s -X POST "$api/init/ready" -d '' >/dev/null
while true; do
  event=$(curl -s "$api/invocation/next")
  curl -s -X POST "$api/invocation/response" -d "{\\"fn\\":\\"$SCF_FUNCTIONNAME\\",\\"greeting\\":\\"$GREETING\\",\\"event\\":$event}" >/dev/null
done
`;

let shim: Shim;
let base = "";
let codeDir = "";
let apiPort = 0;

/**
 * A warm-pool instance of a runtime on port 0: the pool pod's own environment (its runtime
 * and memory, and where things are), read as a pool pod reads it.
 */
async function startPoolShim(runtime: string) {
  const codeDir = tempDir("pool");
  const [port, channelPort, apiPort] = (await freePorts(3)) as [number, number, number];
  const poolEnv = {
    ...(process.env as Record<string, string>),
    SCF_RUNTIME: runtime,
    SCF_MEMORY_SIZE: "128",
    UPDRAFT_PORT: String(port),
    UPDRAFT_CHANNEL_PORT: String(channelPort),
    SCF_RUNTIME_API_PORT: String(apiPort),
    SCF_USERCODEPATH: codeDir,
  };
  const appDir = process.cwd();
  const shim = new Shim(shimConfigFromEnv(poolEnv, appDir), () => undefined, {
    configFrom: (env) => shimConfigFromEnv(env, appDir),
  });
  await shim.start();
  return { shim, base: `http://127.0.0.1:${port}`, codeDir, apiPort };
}

before(async () => {
  ({ shim, base, codeDir, apiPort } = await startPoolShim("custom"));
});
after(async () => {
  await shim.drain();
});

/** What the activator sends: the function's environment (as its pod template has it) and its files. */
const functionEnv = (memory: string) => ({
  SCF_FUNCTIONNAME: "hello",
  SCF_RUNTIME: "custom",
  SCF_MEMORY_SIZE: memory,
  UPDRAFT_TIMEOUT_MS: "2000",
  UPDRAFT_PER_INSTANCE: "1",
  SCF_RUNTIME_API_PORT: String(apiPort),
  SCF_USERCODEPATH: codeDir,
  GREETING: "hi",
});

const post = (path: string, body: unknown) =>
  fetch(`${base}${path}`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify(body),
  });

describe("a warm-pool instance", () => {
  it("is ready to be claimed and refuses invocations before it is specialised", async () => {
    const ready = await fetch(`${base}/readyz`);
    assert.equal(ready.status, 200);
    const r = await post("/invoke", { a: 1 });
    assert.equal(r.status, 503, "an unspecialised instance must send the activator elsewhere");
    assert.equal(((await r.json()) as { errorType: string }).errorType, "InstanceNotSpecialised");
  });

  it("refuses a function of another memory size and stays in the pool", async () => {
    const r = await post(SPECIALISE_PATH, { env: functionEnv("256"), files: { bootstrap: BOOTSTRAP } });
    assert.equal(r.status, 400);
    assert.equal(((await r.json()) as { errorType: string }).errorType, "InstanceMismatch");
    assert.equal((await fetch(`${base}/readyz`)).status, 200, "still claimable");
  });

  it("becomes the function: its files, its environment, then invocations", async () => {
    const r = await post(SPECIALISE_PATH, { env: functionEnv("128"), files: { bootstrap: BOOTSTRAP } });
    assert.equal(r.status, 200, await r.clone().text());
    assert.equal(readFileSync(join(codeDir, "bootstrap"), "utf8"), BOOTSTRAP);
    const inv = await post("/invoke", { a: 1 });
    assert.equal(inv.status, 200);
    assert.deepEqual(await inv.json(), { fn: "hello", greeting: "hi", event: { a: 1 } });
  });

  it("is claimed once: a second specialise is 409", async () => {
    const r = await post(SPECIALISE_PATH, { env: functionEnv("128"), files: { bootstrap: BOOTSTRAP } });
    assert.equal(r.status, 409);
    assert.equal(((await r.json()) as { errorType: string }).errorType, "InstanceTaken");
  });
});

/** Processes whose start-up environment holds every one of these entries. */
function pidsWithEnv(entries: string[]): number[] {
  const pids: number[] = [];
  for (const name of readdirSync("/proc")) {
    if (!/^\d+$/.test(name)) continue;
    try {
      const env = readFileSync(`/proc/${name}/environ`, "utf8").split("\0");
      if (entries.every((e) => env.includes(e))) pids.push(Number(name));
    } catch {
      // gone, or not ours to read
    }
  }
  return pids;
}

// The Python runtime's own bootstrap (runtimes/python), pre-started by the pool instance.
describe("a warm-pool instance of Python: its worker started before the claim", () => {
  let pyShim: Shim;
  let pyBase = "";
  let pyCode = "";
  let pyApi = 0;
  const HANDLER = [
    "import os",
    "def main_handler(event, context):",
    "    return {'pid': os.getpid(), 'greeting': os.environ.get('GREETING'),",
    "            'poolWorker': os.environ.get('UPDRAFT_POOL_WORKER'),",
    "            'fn': context['function_name'], 'event': event}",
    "",
  ].join("\n");
  const fnEnv = (extra: Record<string, string> = {}) => ({
    SCF_FUNCTIONNAME: "hello-py",
    SCF_RUNTIME: "python3.11",
    SCF_MEMORY_SIZE: "128",
    UPDRAFT_TIMEOUT_MS: "3000",
    UPDRAFT_PER_INSTANCE: "1",
    SCF_RUNTIME_API_PORT: String(pyApi),
    SCF_USERCODEPATH: pyCode,
    _HANDLER: "index.main_handler",
    GREETING: "hi",
    ...extra,
  });

  async function startPool(): Promise<void> {
    ({ shim: pyShim, base: pyBase, codeDir: pyCode, apiPort: pyApi } = await startPoolShim("python3.11"));
  }
  const specialise = (env: Record<string, string>) =>
    fetch(`${pyBase}${SPECIALISE_PATH}`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ env, files: { "index.py": HANDLER } }),
    });
  const invoke = async () => {
    const r = await fetch(`${pyBase}/invoke`, { method: "POST", body: '{"a":1}' });
    assert.equal(r.status, 200);
    return (await r.json()) as Record<string, unknown>;
  };

  before(startPool);
  after(async () => {
    await pyShim.drain();
  });

  it("is ready only with its worker up and waiting, and that worker becomes the function's", async () => {
    assert.equal((await fetch(`${pyBase}/readyz`)).status, 200);
    const waiting = pidsWithEnv([`${POOL_WORKER_ENV}=1`, `SCF_RUNTIME_API_PORT=${pyApi}`]);
    assert.equal(waiting.length, 1, "one pre-started Python worker before any claim");
    const r = await specialise(fnEnv());
    assert.equal(r.status, 200, await r.clone().text());
    assert.deepEqual(await invoke(), {
      pid: waiting[0],
      greeting: "hi",
      poolWorker: null,
      fn: "hello-py",
      event: { a: 1 },
    });
  });

  it("starts a fresh worker when the function sets what Python reads at start (PYTHONPATH)", async () => {
    await pyShim.drain();
    await startPool();
    const waiting = pidsWithEnv([`${POOL_WORKER_ENV}=1`, `SCF_RUNTIME_API_PORT=${pyApi}`]);
    assert.equal(waiting.length, 1);
    const r = await specialise(fnEnv({ PYTHONPATH: pyCode }));
    assert.equal(r.status, 200, await r.clone().text());
    const out = await invoke();
    assert.notEqual(out.pid, waiting[0], "the pre-started worker must not serve a PYTHONPATH it never read");
    assert.equal(out.greeting, "hi");
    assert.equal(
      pidsWithEnv([`${POOL_WORKER_ENV}=1`, `SCF_RUNTIME_API_PORT=${pyApi}`]).length,
      0,
      "and it is gone",
    );
  });
});

describe("parseSpecialiseRequest", () => {
  const cases: { why: string; body: string; error?: RegExp }[] = [
    { why: "env and files as maps of strings", body: '{"env":{"A":"1"},"files":{"a/b.js":"x"}}' },
    { why: "env is required", body: '{"files":{}}', error: /env is not an object/ },
    { why: "a number in env is not what a pod template has", body: '{"env":{"A":1}}', error: /env.A/ },
    {
      why: "no file outside the code folder",
      body: '{"env":{},"files":{"../x":"y"}}',
      error: /relative path/,
    },
    { why: "no absolute file name", body: '{"env":{},"files":{"/etc/x":"y"}}', error: /relative path/ },
    { why: "not JSON", body: "env=1", error: /JSON/ },
  ];
  for (const c of cases)
    it(c.why, () => {
      if (c.error) assert.throws(() => parseSpecialiseRequest(c.body), c.error);
      else assert.doesNotThrow(() => parseSpecialiseRequest(c.body));
    });
});
