import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { describe, it } from "node:test";
import { OPEN_FILES_LIMIT, withOpenFilesLimit } from "./limits.ts";

describe("withOpenFilesLimit", () => {
  it("the command runs with 1,024 open files, soft and hard, and its arguments as given", () => {
    const [cmd, ...args] = withOpenFilesLimit([
      "/bin/sh",
      "-c",
      'echo "$(ulimit -Sn) $(ulimit -Hn) $1"',
      "sh",
      "a b",
    ]);
    const out = execFileSync(cmd!, args, { encoding: "utf8" }).trim();
    assert.equal(out, `${OPEN_FILES_LIMIT} ${OPEN_FILES_LIMIT} a b`);
  });

  it("the code cannot raise it again", () => {
    const [cmd, ...args] = withOpenFilesLimit([
      "/bin/sh",
      "-c",
      "ulimit -n 4096 2>/dev/null && echo raised || echo refused",
    ]);
    assert.equal(execFileSync(cmd!, args, { encoding: "utf8" }).trim(), "refused");
  });

  it("exec keeps the pid: the shim's signals and process-group kill reach the worker itself", () => {
    const [cmd, ...args] = withOpenFilesLimit(["/bin/sh", "-c", "echo $$"]);
    const out = execFileSync("/bin/sh", ["-c", 'exec "$@" & echo $!; wait', "sh", cmd!, ...args], {
      encoding: "utf8",
    });
    const [spawned, reported] = out.trim().split("\n");
    assert.equal(reported, spawned);
  });
});
