import assert from "node:assert/strict";
import { mkdirSync, mkdtempSync, symlinkSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, it } from "node:test";
import { containerArgv, resolveInRoot, sandboxNames, setupScript, shellQuote } from "./sandbox.ts";

describe("shellQuote", () => {
  it("keeps hostile strings inert", () => {
    assert.equal(shellQuote("it'; rm -rf /"), `'it'\\''; rm -rf /'`);
  });
});

describe("resolveInRoot", () => {
  const root = mkdtempSync(join(tmpdir(), "root-"));
  mkdirSync(join(root, "run"));
  mkdirSync(join(root, "usr/lib"), { recursive: true });
  symlinkSync("/run", join(root, "var-run-abs"));
  mkdirSync(join(root, "var"));
  symlinkSync("/run", join(root, "var/run"));
  symlinkSync("usr/lib", join(root, "lib"));
  const cases: Array<[string, string, string]> = [
    [
      "an absolute link resolves inside the root, not the host",
      "/var/run/secrets/token",
      "/run/secrets/token",
    ],
    ["a relative link resolves from its directory", "/lib/x.so", "/usr/lib/x.so"],
    ["a path that does not exist is taken literally", "/var/user/code", "/var/user/code"],
    ["dot-dot cannot climb out of the root", "/../../etc/hosts", "/etc/hosts"],
  ];
  for (const [why, path, want] of cases) it(why, () => assert.equal(resolveInRoot(root, path), want));
});

describe("container launch", () => {
  const launch = {
    names: sandboxNames("/state", "uid-1"),
    container: "c",
    imageRoot: "/",
    binds: [{ source: "/state/v", target: "/data dir", readOnly: true }],
    readOnlyRoot: true,
    cgroup: "/sys/fs/cgroup/memory/updraft/uid-1/c",
    uid: 1000,
    gid: 1000,
    noNewPrivs: true,
    workingDir: "/app",
    env: { A: "1" },
    argv: ["python3", "-m", "http.server"],
    logFile: "/state/log",
    enterScript: "/enter.sh",
  };
  it("names fit the kernel's 15-character interface limit", () => {
    assert.ok(launch.names.hostVeth.length <= 15);
    assert.match(launch.names.netns, /^updraft-[0-9a-f]{12}$/);
  });
  it("the setup script mounts the bind read-only, joins the cgroup, then makes the root read-only", () => {
    const s = setupScript(launch, "/state/pods/uid-1/containers/c");
    const bind = s.indexOf("mount --bind '/state/v' $R'/data dir'");
    const ro = s.indexOf("mount -o remount,bind,ro $R'/data dir'");
    const cg = s.indexOf("updraft/uid-1/c/cgroup.procs");
    const rootRo = s.indexOf('mount -o remount,ro "$R"');
    assert.ok(bind > 0 && ro > bind && cg > ro && rootRo > cg, s);
  });
  it("drops to the container's user with no new privileges and a clean environment", () => {
    const argv = containerArgv(launch, "/b");
    assert.deepEqual(argv.slice(0, 2), ["chroot", "/b/root"]);
    for (const flag of [
      "--reuid=1000",
      "--regid=1000",
      "--clear-groups",
      "--no-new-privs",
      "--bounding-set=-all",
    ]) {
      assert.ok(argv.includes(flag), flag);
    }
    assert.deepEqual(argv.slice(-6), ["-C", "/app", "A=1", "python3", "-m", "http.server"]);
  });
});
