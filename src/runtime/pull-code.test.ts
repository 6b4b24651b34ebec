import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { createHash } from "node:crypto";
import { chmodSync, mkdirSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { createServer, type Server } from "node:http";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { tempDir } from "../../test/support/temp-dir.ts";
import { pullCode } from "./pull-code.ts";

// A local HTTP server on loopback stands in for the package host (a real server, not a mock).
let server: Server;
let base = "";
const files = new Map<string, Buffer>();
/** Requests per path; "/flaky.zip" fails its first two. */
const hits = new Map<string, number>();
const sha = (b: Buffer) => createHash("sha256").update(b).digest("hex");

before(async () => {
  const src = tempDir("pkg");
  mkdirSync(join(src, "lib"));
  writeFileSync(join(src, "index.js"), "exports.main_handler = async () => 'packaged';\n");
  writeFileSync(join(src, "lib/util.js"), "module.exports = 1;\n");
  writeFileSync(join(src, "scf_bootstrap"), "#!/bin/sh\nexec node index.js\n");
  chmodSync(join(src, "scf_bootstrap"), 0o755);
  const out = tempDir("out");
  execFileSync("tar", ["-czf", join(out, "code.tar.gz"), "-C", src, "."]);
  execFileSync("zip", ["-qr", join(out, "code.zip"), "."], { cwd: src });
  files.set("/code.tar.gz", readFileSync(join(out, "code.tar.gz")));
  files.set("/code.zip", readFileSync(join(out, "code.zip")));
  files.set("/flaky.zip", readFileSync(join(out, "code.zip")));
  // A zip whose entry climbs out of the folder (a "zip slip").
  execFileSync("python3", [
    "-c",
    "import sys, zipfile; z = zipfile.ZipFile(sys.argv[1], 'w'); z.writestr('../evil.txt', 'x'); z.close()",
    join(out, "slip.zip"),
  ]);
  files.set("/slip.zip", readFileSync(join(out, "slip.zip")));
  server = createServer((req, res) => {
    const n = (hits.get(req.url ?? "") ?? 0) + 1;
    hits.set(req.url ?? "", n);
    if (req.url === "/flaky.zip" && n <= 2) return void res.writeHead(503).end();
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
      const dir = tempDir("user");
      await pullCode(`${base}${name}`, sha(files.get(name)!), dir);
      assert.match(readFileSync(join(dir, "index.js"), "utf8"), /packaged/);
      assert.equal(readFileSync(join(dir, "lib/util.js"), "utf8"), "module.exports = 1;\n");
      assert.equal(
        statSync(join(dir, "scf_bootstrap")).mode & 0o777,
        0o755,
        "scf_bootstrap stays executable",
      );
    });
  }
  it("tries a failing download again with back-off", async () => {
    const dir = tempDir("user");
    await pullCode(`${base}/flaky.zip`, sha(files.get("/flaky.zip")!), dir, { baseDelayMs: 10 });
    assert.equal(hits.get("/flaky.zip"), 3, "two 503s, then the package");
    assert.match(readFileSync(join(dir, "index.js"), "utf8"), /packaged/);
  });
  it("refuses an entry that would land outside the code folder", async () => {
    const parent = tempDir("slip");
    const dir = join(parent, "code");
    await assert.rejects(pullCode(`${base}/slip.zip`, sha(files.get("/slip.zip")!), dir), {
      code: "CodePackageInvalid",
    });
    assert.throws(() => readFileSync(join(parent, "evil.txt")), "nothing written outside");
  });
  it("refuses a package whose sha256 does not match, unpacking nothing", async () => {
    const dir = tempDir("user");
    await assert.rejects(pullCode(`${base}/code.zip`, "0".repeat(64), dir), { code: "CodeChecksumMismatch" });
    assert.throws(() => readFileSync(join(dir, "index.js")));
  });
  it("reports a download that fails", async () => {
    await assert.rejects(pullCode(`${base}/missing.zip`, "0".repeat(64), tempDir("u"), { baseDelayMs: 10 }), {
      code: "CodeDownloadFailed",
      message: /HTTP 404/,
    });
  });
});
