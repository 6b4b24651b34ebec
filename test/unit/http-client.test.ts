import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { readdirSync, readFileSync } from "node:fs";
import { createServer, type Socket } from "node:net";
import { dirname, join, relative, resolve } from "node:path";
import { describe, it } from "node:test";
import { fileURLToPath } from "node:url";
import { request } from "undici";

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), "../..");

/**
 * The undici bundled in Node.js 24 (7.x, behind the global fetch) throws an uncatchable
 * assertion when the peer closes a connection whose response body it has paused for
 * back-pressure (nodejs/undici#5360): the process ends. An activator died of it in CI.
 * Updraft's components therefore make HTTP calls with undici from npm (8.x), and make it
 * the global dispatcher (src/lib/http-client.ts).
 */
describe("HTTP clients in Updraft's components", () => {
  it("no file of Updraft calls the global fetch", () => {
    const offenders: string[] = [];
    const walk = (dir: string) => {
      for (const e of readdirSync(dir, { withFileTypes: true })) {
        const path = join(dir, e.name);
        if (e.isDirectory()) walk(path);
        else if (e.name.endsWith(".ts") && !e.name.endsWith(".test.ts")) {
          const rel = relative(ROOT, path);
          const text = readFileSync(path, "utf8");
          const undiciFetch = /\{[^}]*\bfetch\b[^}]*\}\s*(from\s*"undici"|=\s*await import\("undici"\))/.test(
            text,
          );
          if (/(?<![.\w])fetch\(/.test(text) && !undiciFetch) offenders.push(rel);
        }
      }
    };
    walk(join(ROOT, "src"));
    assert.deepEqual(offenders, [], "call undici's request or fetch from npm instead");
  });

  // The peer sends its answer and closes the connection at once; the client reads none of
  // the body before the close (its buffer holds 1 byte, so undici pauses the parser on the
  // first body chunk). The server's socket closes only once the client has seen the close
  // and closed its side; then the whole body must be there. With undici 6 or 7 the process
  // ends here instead: `AssertionError: assert(!this.paused)` from the socket's 'end'.
  it("undici from npm completes a body it had paused when the peer closes the connection", {
    timeout: 10_000,
  }, async () => {
    const body = Buffer.alloc(30_000, 0x61);
    let closed!: () => void;
    const peerClosed = new Promise<void>((r) => {
      closed = r;
    });
    const server = createServer((sock: Socket) => {
      sock.once("data", () => {
        sock.write(`HTTP/1.1 200 OK\r\nContent-Length: ${body.length}\r\nConnection: close\r\n\r\n`);
        sock.end(body);
      });
      sock.once("close", closed);
    });
    await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
    try {
      const res = await request(`http://127.0.0.1:${(server.address() as { port: number }).port}/`, {
        highWaterMark: 1,
      });
      await peerClosed;
      assert.equal((await res.body.arrayBuffer()).byteLength, body.length);
    } finally {
      server.close();
    }
  });

  it("after node:http is loaded, useUndiciFromNpm makes undici from npm the global dispatcher", async () => {
    // Loading node:http (as any server does) installs the bundled undici's Agent; a
    // child process starts clean, as a component does.
    const script = [
      'import "node:http";',
      'import { Agent, getGlobalDispatcher } from "undici";',
      `import { useUndiciFromNpm } from ${JSON.stringify(join(ROOT, "src/lib/http-client.ts"))};`,
      "const before = getGlobalDispatcher() instanceof Agent;",
      "useUndiciFromNpm();",
      "console.log(JSON.stringify({ before, after: getGlobalDispatcher() instanceof Agent }));",
    ].join("\n");
    const r = spawnSync(process.execPath, ["--input-type=module", "-e", script], {
      cwd: ROOT,
      encoding: "utf8",
    });
    assert.equal(r.status, 0, r.stderr);
    assert.deepEqual(JSON.parse(r.stdout), { before: false, after: true });
  });

  it("every component's main, and the CLI's, makes undici from npm the global dispatcher first", () => {
    for (const component of [
      "activator",
      "adapter",
      "autoscaler",
      "controller",
      "storage-events",
      "updraft",
    ]) {
      const main = readFileSync(join(ROOT, "src/cmd", component, "main.ts"), "utf8");
      const body = main.slice(main.indexOf("async function main()"));
      const first = /\{\n\s*([^\n]+)/.exec(body)?.[1];
      assert.equal(first, "useUndiciFromNpm();", `${component}: the first statement of main()`);
    }
  });

  it("the runtime shim downloads with the same undici", () => {
    const version = (file: string) =>
      (JSON.parse(readFileSync(join(ROOT, file), "utf8")) as { dependencies: Record<string, string> })
        .dependencies.undici;
    assert.equal(version("runtimes/shim/package.json"), version("package.json"));
  });
});
