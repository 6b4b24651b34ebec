import assert from "node:assert/strict";
import { rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, it } from "node:test";
import { tempDir } from "../../test/support/temp-dir.ts";
import { fileToken } from "./token-file.ts";

describe("fileToken", () => {
  it("reads the token, keeps it for the refresh time, then reads the rotated one", () => {
    const dir = tempDir("token");
    const path = join(dir, "token");
    writeFileSync(path, "first\n");
    let now = 0;
    const token = fileToken(path, 60_000, () => now);
    assert.equal(token(), "first");
    writeFileSync(path, "second");
    now = 59_999;
    assert.equal(token(), "first", "not read again within the minute");
    now = 60_000;
    assert.equal(token(), "second", "the kubelet's rotation is seen");
    rmSync(dir, { recursive: true });
    now = 120_000;
    assert.equal(token(), undefined, "no file, no token");
  });
});
