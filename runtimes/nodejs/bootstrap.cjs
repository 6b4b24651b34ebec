// Node.js bootstrap for SCF functions: loads `file.function` from /var/user and serves
// invocations through the SCF runtime API (SCF_RUNTIME_API, SCF_RUNTIME_API_PORT).
// Async handlers return or throw, and answer when their promise settles; callback handlers
// call callback(err, result), and with context.callbackWaitsForEmptyEventLoop (default
// true) the answer waits until the work the handler started (timers, sockets) has finished.
const http = require("node:http");
const path = require("node:path");
const { AsyncLocalStorage, createHook } = require("node:async_hooks");

// Resources (timers, sockets, file operations) the current invocation started, directly or
// from its callbacks: the "event loop" that callbackWaitsForEmptyEventLoop waits for.
const invocation = new AsyncLocalStorage();
const pending = new Set();
createHook({
  init(id, type) {
    // Promises are not loop work; stdout/stderr handles are the process's, made lazily by
    // the first console.log wherever it happens.
    if (type === "PROMISE" || type === "PROMISEWRAP" || type === "PIPEWRAP" || type === "TTYWRAP") return;
    if (invocation.getStore()) pending.add(id);
  },
  destroy(id) {
    pending.delete(id);
  },
  promiseResolve() {},
}).enable();
// Open stdout and stderr now, outside any invocation.
void process.stdout;
void process.stderr;

const api = {
  host: process.env.SCF_RUNTIME_API || "127.0.0.1",
  port: Number(process.env.SCF_RUNTIME_API_PORT || 9001),
};
// One kept-alive connection to the runtime API: a connection per call cost the worker and
// the shim a TCP connect and teardown twice per invocation (about a third of their CPU).
const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });

function callOnce(method, route, body) {
  return new Promise((resolve, reject) => {
    const req = http.request({ ...api, method, path: route, agent }, (res) => {
      const chunks = [];
      res.on("data", (c) => chunks.push(c));
      res.on("end", () => resolve({ headers: res.headers, body: Buffer.concat(chunks).toString() }));
    });
    req.on("error", reject);
    req.end(body);
  });
}

// A kept-alive connection the shim closed just as it was reused fails before the request
// got there: sent again once. (A repeat is harmless: the first response or error posted
// for an invocation is the one that counts.)
async function call(method, route, body) {
  try {
    return await callOnce(method, route, body);
  } catch (err) {
    if (err && (err.code === "ECONNRESET" || err.code === "EPIPE")) return callOnce(method, route, body);
    throw err;
  }
}

function errorBody(code, err, type) {
  const e = err instanceof Error ? err : new Error(typeof err === "string" ? err : JSON.stringify(err));
  return JSON.stringify({
    errorCode: code,
    errorMessage: e.message,
    errorType: type || e.name || "Error",
    stackTrace: e.stack || "",
  });
}

function loadHandler() {
  const spec = process.env._HANDLER || "index.main_handler";
  const dot = spec.lastIndexOf(".");
  const file = spec.slice(0, dot);
  const name = spec.slice(dot + 1);
  const root = process.env.SCF_USERCODEPATH || "/var/user";
  let mod;
  try {
    mod = require(path.resolve(root, file));
  } catch (err) {
    if (err && err.code === "MODULE_NOT_FOUND" && String(err.message).includes(path.resolve(root, file))) {
      return {
        error: {
          code: 437,
          err: new Error(`Handler not found: cannot find module ${file}`),
          type: "HandlerNotFound",
        },
      };
    }
    console.error(err?.stack ? err.stack : String(err));
    return { error: { code: 430, err, type: "UserCodeException" } };
  }
  const fn = mod?.[name];
  if (typeof fn !== "function") {
    return { error: { code: 437, err: new Error(`Handler not found: ${spec}`), type: "HandlerNotFound" } };
  }
  return { fn };
}

function contextFor(headers) {
  const env = {
    SCF_NAMESPACE: process.env.SCF_NAMESPACE || "default",
    SCF_FUNCTIONNAME: process.env.SCF_FUNCTIONNAME || "",
    SCF_FUNCTIONVERSION: process.env.SCF_FUNCTIONVERSION || "$LATEST",
    TENCENTCLOUD_REGION: process.env.TENCENTCLOUD_REGION || "",
  };
  return {
    memory_limit_in_mb: Number(headers.memory_limit_in_mb),
    time_limit_in_ms: Number(headers.time_limit_in_ms),
    request_id: headers.request_id,
    environment: JSON.stringify(env),
    environ: Object.entries(env)
      .map(([k, v]) => `${k}=${v}`)
      .join(";"),
    function_version: env.SCF_FUNCTIONVERSION,
    function_name: env.SCF_FUNCTIONNAME,
    namespace: env.SCF_NAMESPACE,
    tencentcloud_region: env.TENCENTCLOUD_REGION,
    tencentcloud_appid: process.env.TENCENTCLOUD_APPID || "",
    tencentcloud_uin: process.env.TENCENTCLOUD_UIN || "",
    callbackWaitsForEmptyEventLoop: true,
  };
}

async function waitForEmptyLoop(deadline) {
  while (pending.size > 0 && Date.now() < deadline) {
    await new Promise((r) => setTimeout(r, 5));
  }
}

// What was thrown or rejected, as an error even when it is falsy (`throw null`,
// `Promise.reject(0)`): a failure never reads as success.
function asError(e) {
  return e || new Error(e === undefined ? "rejected" : String(e));
}

// How an invocation ended: { err, result, viaCallback } (viaCallback: it waits for the loop).
// A handler that takes a callback may still be async (SCF's own samples write `async (event, context, callback) => { return
// … }`): whichever comes first, the callback or the settled promise, is the answer (so such a
// handler's promise that settles before a callback it calls later answers, with its value).
function run(fn, event, context) {
  return new Promise((resolve) => {
    let done = false;
    let calledForIt;
    const finish = (viaCallback, err, result) => {
      if (done) return;
      done = true;
      if (calledForIt) process.off("beforeExit", calledForIt);
      resolve({ err, result, viaCallback });
    };
    // Only a handler that takes the callback waits for the loop, whether it answers through
    // the callback or context.done; a two-parameter handler's context.done does not wait.
    const takesCallback = fn.length >= 3;
    const callback = (err, result) => finish(takesCallback, err, result);
    context.done = callback;
    invocation.run(true, () => {
      try {
        const returned = takesCallback ? fn(event, context, callback) : fn(event, context);
        // A callback handler that returns no promise answers through its callback only: what
        // it returns is not its answer (SCF's Nodejs6.10-Apigateway sample returns an object
        // and never calls back). If it never calls back, SCF calls the callback for it, with
        // null, once nothing the handler started is left to call it: the moment Node's event
        // loop is empty and the process would exit ("beforeExit"). Work still pending (a
        // timer, a query on an open connection) keeps the loop alive, and the callback may
        // still come; if it never does, the time limit ends the invocation.
        if (takesCallback && typeof returned?.then !== "function") {
          calledForIt = () => finish(true, null, null);
          process.once("beforeExit", calledForIt);
          return;
        }
        Promise.resolve(returned).then(
          (r) => finish(false, null, r),
          (e) => finish(false, asError(e)),
        );
      } catch (err) {
        finish(takesCallback, asError(err));
      }
    });
  });
}

// A worker pre-started in a warm-pool instance waits here, before loading anything of a
// function, for that function's environment, and takes it on: from here it is the worker a
// start with that environment would have made (the shim hands it over only when nothing
// node reads at start, such as NODE_OPTIONS, differs).
async function takeFunctionEnv() {
  if (!process.env.UPDRAFT_POOL_WORKER) return;
  const { env } = JSON.parse((await call("GET", "/runtime/updraft/specialise")).body);
  for (const key of Object.keys(process.env)) if (!(key in env)) delete process.env[key];
  Object.assign(process.env, env);
}

async function main() {
  await takeFunctionEnv();
  const loaded = loadHandler();
  await call("POST", "/runtime/init/ready", "");
  for (;;) {
    const next = await call("GET", "/runtime/invocation/next");
    const context = contextFor(next.headers);
    // TRIGGER_SRC names what fired this invocation ("timer" for a timer), as SCF sets it.
    if (next.headers.trigger_src) process.env.TRIGGER_SRC = next.headers.trigger_src;
    else delete process.env.TRIGGER_SRC;
    if (loaded.error) {
      await call(
        "POST",
        "/runtime/invocation/error",
        errorBody(loaded.error.code, loaded.error.err, loaded.error.type),
      );
      continue;
    }
    let event;
    try {
      event = JSON.parse(next.body || "null");
    } catch {
      event = next.body;
    }
    pending.clear();
    const { err, result, viaCallback } = await run(loaded.fn, event, context);
    // Answers through the callback only (as the flag's name says): an async handler answers
    // when its promise settles. Waiting there too held every async handler that used fetch
    // until its time-out (undici keeps the socket for reuse).
    if (viaCallback && context.callbackWaitsForEmptyEventLoop) {
      await waitForEmptyLoop(Date.now() + context.time_limit_in_ms);
    }
    if (err) {
      console.error(err?.stack ? err.stack : String(err));
      await call("POST", "/runtime/invocation/error", errorBody(430, err, "UserCodeException"));
    } else {
      await call(
        "POST",
        "/runtime/invocation/response",
        JSON.stringify(result === undefined ? null : result),
      );
    }
  }
}

main().catch((err) => {
  console.error(`bootstrap: ${err?.stack ? err.stack : err}`);
  process.exit(1);
});
