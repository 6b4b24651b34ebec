import assert from "node:assert/strict";
import { describe, it } from "node:test";
import type { V1APIService } from "@kubernetes/client-node";
import { trustInApiService } from "./aggregated-tls.ts";

const CERT = "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n";
const BUNDLE = Buffer.from(CERT).toString("base64");

/** An APIService API over one object (or none), recording patches. */
function fakeRegistration(svc: V1APIService | undefined) {
  const patches: unknown[] = [];
  return {
    patches,
    reg: {
      readAPIService: async () => {
        if (!svc) throw Object.assign(new Error("not found"), { code: 404 });
        return svc;
      },
      patchAPIService: async (p: { name: string; body: unknown }) => {
        patches.push(p);
        return svc!;
      },
    },
  };
}

describe("trustInApiService", () => {
  it("an APIService that skips verification gets the certificate as its caBundle, and stops skipping", async () => {
    const { reg, patches } = fakeRegistration({
      spec: { groupPriorityMinimum: 100, versionPriority: 15, insecureSkipTLSVerify: true },
    });
    assert.equal(await trustInApiService(reg as never, CERT), "patched");
    assert.deepEqual(patches, [
      {
        name: "v1alpha1.invoke.updraft.dev",
        body: { spec: { caBundle: BUNDLE, insecureSkipTLSVerify: false } },
      },
    ]);
  });
  // Every controller start runs this: nothing is written when it holds already.
  it("one that trusts it already is left alone", async () => {
    const { reg, patches } = fakeRegistration({
      spec: { groupPriorityMinimum: 100, versionPriority: 15, caBundle: BUNDLE },
    });
    assert.equal(await trustInApiService(reg as never, CERT), "unchanged");
    assert.deepEqual(patches, []);
  });
  it("one that trusts another certificate (an older one) is updated", async () => {
    const { reg, patches } = fakeRegistration({
      spec: { groupPriorityMinimum: 100, versionPriority: 15, caBundle: "b2xk" },
    });
    assert.equal(await trustInApiService(reg as never, CERT), "patched");
    assert.equal(patches.length, 1);
  });
  // The chart's aggregatedApi is off, or the release is still being applied: tried again later.
  it("no APIService: absent, nothing written", async () => {
    const { reg, patches } = fakeRegistration(undefined);
    assert.equal(await trustInApiService(reg as never, CERT), "absent");
    assert.deepEqual(patches, []);
  });
});
