import assert from "node:assert/strict";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, it } from "node:test";
import { customShim } from "../../test/support/custom-shim.ts";
import { UpdraftHeaders } from "../protocol/headers.ts";
import { Shim } from "./shim.ts";

/**
 * The Node.js runtime's bootstrap (runtimes/nodejs/bootstrap.cjs) behind a real shim, with
 * the Node.js running these tests: how a callback handler's answer is found.
 */
async function nodeShim(handlers: string, timeoutMs = 3000): Promise<{ shim: Shim; port: number }> {
  // The image runs it as /var/lang/node24/bin/node …/bootstrap.cjs; here a custom runtime's
  // bootstrap starts it with this Node.js, so it needs no image.
  const bootstrapCjs = join(process.cwd(), "runtimes/nodejs/bootstrap.cjs");
  const { cfg, port } = await customShim(
    "node-bootstrap",
    "bootstrap",
    `#!/bin/sh\nexec "${process.execPath}" "${bootstrapCjs}"\n`,
    { _HANDLER: "index.main_handler", UPDRAFT_TIMEOUT_MS: String(timeoutMs) },
  );
  writeFileSync(join(cfg.codeDir, "index.js"), handlers);
  const shim = new Shim(cfg, () => undefined);
  await shim.start();
  return { shim, port };
}

async function invoke(port: number, event: unknown) {
  const r = await fetch(`http://127.0.0.1:${port}/invoke`, { method: "POST", body: JSON.stringify(event) });
  return {
    status: r.status,
    functionError: r.headers.get(UpdraftHeaders.functionError),
    body: await r.text(),
  };
}

describe("the Node.js bootstrap: a handler that takes a callback", () => {
  it("never calling it is answered null once the loop is empty, as SCF calls it for the handler; what it returned is not its answer", async () => {
    // SCF's Nodejs6.10-Apigateway and Nodejs6.10-Thumbnail samples, reduced: they return a
    // value from a three-parameter handler and never call back. Before, the worker's loop
    // emptied, the process exited and the call failed 439.
    const { shim, port } = await nodeShim(`
exports.main_handler = (event, context, callback) => {
  if (event.later) { setTimeout(() => callback(null, { from: "callback" }), 200); return { from: "return" }; }
  return { statusCode: 200, body: "API GW Test Success" };
};`);
    try {
      const first = await invoke(port, {});
      assert.deepEqual(first, { status: 200, functionError: null, body: "null" });
      // The same worker serves on: the implicit callback did not leave it behind.
      const again = await invoke(port, {});
      assert.deepEqual(again, { status: 200, functionError: null, body: "null" });
      // A callback still to come (a timer the handler started) is waited for: the loop was
      // not empty when the handler returned.
      const later = await invoke(port, { later: true });
      assert.deepEqual(later, { status: 200, functionError: null, body: '{"from":"callback"}' });
    } finally {
      await shim.drain();
    }
  });

  it("never calling it while its own work keeps the loop alive ends at the time limit (433), not with null", async () => {
    const { shim, port } = await nodeShim(
      `exports.main_handler = (event, context, callback) => { setInterval(() => {}, 50); };`,
      1000,
    );
    try {
      const r = await invoke(port, {});
      assert.equal(r.status, 200);
      assert.equal(r.functionError, "433", r.body);
    } finally {
      await shim.drain();
    }
  });
});
