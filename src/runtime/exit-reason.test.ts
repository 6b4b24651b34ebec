import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, it } from "node:test";
import { tempDir } from "../../test/support/temp-dir.ts";
import { recordExitReason } from "./exit-reason.ts";

describe("recordExitReason", () => {
  it("writes the reason, marked as the shim's, where the kubelet reads it, and returns the line for the log", () => {
    const path = join(tempDir("exit-reason"), "termination-log");
    const line = recordExitReason(
      "code package http://pkg/a.zip could not be downloaded: Error: HTTP 404",
      path,
    );
    assert.equal(
      line,
      "updraft-runtime: code package http://pkg/a.zip could not be downloaded: Error: HTTP 404",
    );
    assert.equal(readFileSync(path, "utf8"), line);
  });

  it("a file it cannot write (outside a pod) costs nothing but the file: the line still comes back", () => {
    const line = recordExitReason("bad", join(tempDir("exit-reason"), "no/such/dir/termination-log"));
    assert.equal(line, "updraft-runtime: bad");
  });
});
