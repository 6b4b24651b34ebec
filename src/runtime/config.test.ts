import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { shimConfigFromEnv } from "./config.ts";

const SHA = "ab".repeat(32);
const base = {
  SCF_RUNTIME: "go1",
  SCF_NAMESPACE: "demo",
  SCF_FUNCTIONNAME: "big",
  UPDRAFT_INSTANCE_KEY: "k-big",
};

describe("shimConfigFromEnv, where the code package comes from", () => {
  it("an http(s) code.url is fetched as it is, with no key sent to it", () => {
    const cfg = shimConfigFromEnv({ ...base, UPDRAFT_CODE_URL: "https://example.com/p.zip" }, "/app");
    assert.equal(cfg.codeUrl, "https://example.com/p.zip");
    assert.equal(cfg.codeHeaders, undefined, "a user's server never sees the instance key");
  });
  it("a kept package is fetched from the activators the pod announces itself to, with its function's key", () => {
    const cfg = shimConfigFromEnv(
      {
        ...base,
        UPDRAFT_CODE_URL: `updraft:packages/${SHA}`,
        UPDRAFT_ANNOUNCE_URL: "http://updraft-activator.updraft-system.svc:8080/internal/instances",
      },
      "/app",
    );
    assert.equal(
      cfg.codeUrl,
      `http://updraft-activator.updraft-system.svc:8080/v1/namespaces/demo/packages/${SHA}?function=big`,
    );
    assert.deepEqual(cfg.codeHeaders, { "x-updraft-instance-key": "k-big" });
  });
  // A pod made by hand (or an old template) without the activators' address cannot fetch
  // it: said at start, naming the keys, rather than as a download failure.
  it("a kept package without the activators' address is a configuration error", () => {
    assert.throws(
      () => shimConfigFromEnv({ ...base, UPDRAFT_CODE_URL: `updraft:packages/${SHA}` }, "/app"),
      /UPDRAFT_ANNOUNCE_URL/,
    );
  });
});
