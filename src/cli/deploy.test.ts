import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { lstatSync, mkdirSync, readFileSync, symlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, it } from "node:test";
import { tempDir } from "../../test/support/temp-dir.ts";
import { baseFunction, type CodeFile, choosePackaging, codeFiles, tarGz, triggerUrlText } from "./deploy.ts";

const file = (path: string, size = 10, fill = "a"): CodeFile => ({ path, bytes: Buffer.alloc(size, fill) });

describe("choosePackaging: the smallest way that holds the code", () => {
  const table: Array<{ why: string; files: CodeFile[]; want: "inline" | "archive"; reason?: RegExp }> = [
    {
      why: "a handler file: inline, applying the manifest is the deployment",
      files: [file("index.py")],
      want: "inline",
    },
    {
      why: "a subdirectory cannot be a ConfigMap key: archive",
      files: [file("index.js"), file("lib/greet.js")],
      want: "archive",
      reason: /lib\/greet\.js is not a plain file name/,
    },
    {
      why: "33 files: over the CRD's 32",
      files: Array.from({ length: 33 }, (_, i) => file(`f${i}.js`)),
      want: "archive",
      reason: /33 files/,
    },
    {
      why: "a file over 256 KiB: over the CRD's per-file bound",
      files: [file("big.js", 262_145)],
      want: "archive",
      reason: /big\.js is over 262144 bytes/,
    },
    {
      why: "five files of 250,000 bytes: each fits, together over what the ConfigMap holds",
      files: Array.from({ length: 5 }, (_, i) => file(`part${i}.js`, 250_000)),
      want: "archive",
      reason: /over 1000000/,
    },
    {
      why: "bytes that are not UTF-8 would not survive a manifest's string",
      files: [{ path: "data.bin", bytes: Buffer.from([0xff, 0xfe, 0x00]) }],
      want: "archive",
      reason: /not UTF-8/,
    },
    { why: "nothing to deploy", files: [], want: "archive", reason: /no files/ },
  ];
  for (const c of table)
    it(c.why, () => {
      const p = choosePackaging(c.files);
      assert.equal(p.kind, c.want);
      if (p.kind === "archive" && c.reason) assert.match(p.why, c.reason);
      if (p.kind === "inline")
        for (const f of c.files) assert.equal(p.inline[f.path], f.bytes.toString(), "byte for byte");
    });
});

describe("codeFiles: what of a directory is the code", () => {
  it("all but function.yaml, the dot-files at the top and .git anywhere; a wheel's PIL/.libs goes with the code", () => {
    const dir = tempDir("code-files");
    for (const d of [".git", ".serverless", "PIL/.libs", "vendor/lib/.git", "node_modules/.cache"])
      mkdirSync(join(dir, d), { recursive: true });
    for (const f of [
      "index.py",
      "function.yaml",
      ".env",
      ".git/HEAD",
      ".serverless/state.json",
      "PIL/__init__.py",
      "PIL/.libs/libjpeg-3fe7dfc0.so.9.3.0",
      "vendor/lib/.git/HEAD",
      "vendor/lib/a.py",
      "node_modules/.cache/x",
    ])
      writeFileSync(join(dir, f), f);
    assert.deepEqual(
      codeFiles(dir).map((f) => f.path),
      [
        "index.py",
        "node_modules/.cache/x",
        "PIL/__init__.py",
        "PIL/.libs/libjpeg-3fe7dfc0.so.9.3.0",
        "vendor/lib/a.py",
      ],
    );
  });
});

describe("codeFiles: symbolic links", () => {
  it("a link to a file inside goes, with that file's bytes; links out of the directory, to a directory or to nothing do not", () => {
    const dir = tempDir("code-links");
    const outside = tempDir("code-links-outside");
    writeFileSync(join(outside, "secret"), "not the function's");
    mkdirSync(join(dir, "vendor/lib"), { recursive: true });
    writeFileSync(join(dir, "index.js"), "x");
    writeFileSync(join(dir, "vendor/lib/libvips-cpp.so.42.12.1"), "ELF");
    // sharp's soname links, as SCF's Add_Text_To_Pictures sample carries them.
    symlinkSync("libvips-cpp.so.42.12.1", join(dir, "vendor/lib/libvips-cpp.so.42"));
    symlinkSync(join(outside, "secret"), join(dir, "vendor/lib/leak"));
    symlinkSync("../..", join(dir, "vendor/lib/loop"));
    symlinkSync("missing", join(dir, "vendor/lib/dangling"));
    const files = codeFiles(dir);
    assert.deepEqual(
      files.map((f) => [f.path, f.bytes.toString()]),
      [
        ["index.js", "x"],
        ["vendor/lib/libvips-cpp.so.42", "ELF"],
        ["vendor/lib/libvips-cpp.so.42.12.1", "ELF"],
      ],
    );
    // In a tar.gz the link is the file it leads to, as the shim unpacks it.
    const unpacked = tempDir("code-links-unpacked");
    writeFileSync(
      join(unpacked, "code.tar.gz"),
      tarGz(
        dir,
        files.map((f) => f.path),
      ),
    );
    execFileSync("tar", ["-xzf", "code.tar.gz"], { cwd: unpacked });
    const link = join(unpacked, "vendor/lib/libvips-cpp.so.42");
    assert.equal(lstatSync(link).isFile(), true, "a file, not a link");
    assert.equal(readFileSync(link, "utf8"), "ELF");
  });
});

describe("baseFunction: a Function from the flags, with SCF's default handlers", () => {
  // A folder without function.yaml, as SCF's samples come.
  const dir = tempDir("deploy-flags");
  // The default handler's file, which deploy looks for before it applies anything.
  writeFileSync(join(dir, "index.js"), "exports.main_handler = async () => 1;\n");
  const table: Array<{ why: string; runtime: string; handler?: string; want: string }> = [
    {
      why: "Node.js, Python, PHP: file.function, SCF's index.main_handler",
      runtime: "nodejs24",
      want: "index.main_handler",
    },
    { why: "Go: the binary's name, SCF's main", runtime: "go1", want: "main" },
    {
      why: "custom: its bootstrap reads _HANDLER (SCF's samples source the file it names), so it gets SCF's default",
      runtime: "custom",
      want: "index.main_handler",
    },
    {
      why: "--handler wins over every default",
      runtime: "custom",
      handler: "run.sh_handler",
      want: "run.sh_handler",
    },
  ];
  for (const c of table)
    it(c.why, () => {
      const base = baseFunction(join(dir), { name: "f", runtime: c.runtime, handler: c.handler });
      assert.ok(typeof base !== "string", String(base));
      assert.equal(base.fn.spec.handler, c.want);
    });

  it("--credentials-secret names the role's Secret, beside the region serverless.yaml gave", () => {
    const withYaml = tempDir("deploy-credentials");
    writeFileSync(join(withYaml, "index.js"), "exports.main_handler = async () => 1;\n");
    writeFileSync(
      join(withYaml, "serverless.yaml"),
      "component: scf\ninputs:\n  name: cos-sync\n  runtime: Nodejs12.16\n  region: ap-shanghai\n  role: SCF_QcsRole\n  handler: index.main_handler\n",
    );
    const notes: string[] = [];
    const base = baseFunction(withYaml, { runtime: "nodejs24", "credentials-secret": "cos-writer" }, (line) =>
      notes.push(line),
    );
    assert.ok(typeof base !== "string", String(base));
    assert.deepEqual(base.fn.spec.tencentCloud, { region: "ap-shanghai", credentialsSecret: "cos-writer" });
  });
});

describe("triggerUrlText: an Http Trigger's URL as deploy says it", () => {
  const inCluster = "http://updraft-activator.updraft-system.svc:8080/http/demo/hello";
  const cases: Array<{ why: string; updraftUrl: string | undefined; want: string }> = [
    {
      why: "without $UPDRAFT_URL the cluster's own address is all there is",
      updraftUrl: undefined,
      want: inCluster,
    },
    {
      why: "with $UPDRAFT_URL the path is said at it, which this shell can curl, the cluster's address beside it",
      updraftUrl: "http://10.0.0.5:30080",
      want: `http://10.0.0.5:30080/http/demo/hello (in the cluster: ${inCluster})`,
    },
    {
      why: "a trailing slash on $UPDRAFT_URL does not double the path's",
      updraftUrl: "http://10.0.0.5:30080/",
      want: `http://10.0.0.5:30080/http/demo/hello (in the cluster: ${inCluster})`,
    },
  ];
  for (const c of cases) it(c.why, () => assert.equal(triggerUrlText(inCluster, c.updraftUrl), c.want));
});
