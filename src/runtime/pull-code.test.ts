import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { createHash } from "node:crypto";
import { mkdirSync, mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { createServer, type Server } from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { pullCode } from "./shim.ts";

// A local HTTP server on loopback stands in for the package host (a real server, not a mock).
let server: Server;
let base = "";
const files = new Map<string, Buffer>();
const sha = (b: Buffer) => createHash("sha256").update(b).digest("hex");

before(async () => {
  const src = mkdtempSync(join(tmpdir(), "pkg-"));
  mkdirSync(join(src, "lib"));
  writeFileSync(join(src, "index.js"), "exports.main_handler = async () => 'packaged';\n");
  writeFileSync(join(src, "lib/util.js"), "module.exports = 1;\n");
  const out = mkdtempSync(join(tmpdir(), "out-"));
  execFileSync("tar", ["-czf", join(out, "code.tar.gz"), "-C", src, "."]);
  execFileSync("zip", ["-qr", join(out, "code.zip"), "."], { cwd: src });
  files.set("/code.tar.gz", readFileSync(join(out, "code.tar.gz")));
  files.set("/code.zip", readFileSync(join(out, "code.zip")));
  server = createServer((req, res) => {
    const body = files.get(req.url ?? "");
    if (!body) res.writeHead(404).end();
    else res.end(body);
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", () => r()));
  const addr = server.address();
  base = `http://127.0.0.1:${typeof addr === "object" && addr ? addr.port : 0}`;
});
after(() => server.close());

describe("pullCode", () => {
  for (const name of ["/code.tar.gz", "/code.zip"]) {
    it(`unpacks ${name} after checking its sha256`, async () => {
      const dir = mkdtempSync(join(tmpdir(), "user-"));
      await pullCode(`${base}${name}`, sha(files.get(name)!), dir);
      assert.match(readFileSync(join(dir, "index.js"), "utf8"), /packaged/);
      assert.equal(readFileSync(join(dir, "lib/util.js"), "utf8"), "module.exports = 1;\n");
    });
  }
  it("refuses a package whose sha256 does not match, unpacking nothing", async () => {
    const dir = mkdtempSync(join(tmpdir(), "user-"));
    await assert.rejects(pullCode(`${base}/code.zip`, "0".repeat(64), dir), /sha256 mismatch/);
    assert.throws(() => readFileSync(join(dir, "index.js")));
  });
  it("reports a download that fails", async () => {
    await assert.rejects(
      pullCode(`${base}/missing.zip`, "0".repeat(64), mkdtempSync(join(tmpdir(), "u-"))),
      /HTTP 404/,
    );
  });
});
