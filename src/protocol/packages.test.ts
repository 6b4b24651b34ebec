import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { packageFetchPath, packageObjectKey, storedPackageSha, storedPackageUrl } from "./packages.ts";

const SHA = "0123456789abcdef".repeat(4);

describe("storedPackageSha", () => {
  const cases: Array<[string, string | undefined, string | undefined]> = [
    ["a kept package's URL names its SHA-256", `updraft:packages/${SHA}`, SHA],
    ["an http(s) URL is the user's own", "https://example.com/p.zip", undefined],
    ["no URL at all", undefined, undefined],
    [
      "a SHA-256 in capitals is not one (the CRD takes lower-case hex only)",
      `updraft:packages/${SHA.toUpperCase()}`,
      undefined,
    ],
    ["a short hash is not one", "updraft:packages/abc", undefined],
    ["nothing may follow the hash", `updraft:packages/${SHA}/../x`, undefined],
  ];
  for (const [why, url, want] of cases) it(why, () => assert.equal(storedPackageSha(url), want));
  it("is the inverse of storedPackageUrl", () => assert.equal(storedPackageSha(storedPackageUrl(SHA)), SHA));
});

describe("package paths", () => {
  it("an instance asks for its namespace's package as its function", () =>
    assert.equal(packageFetchPath("demo", SHA, "big"), `/v1/namespaces/demo/packages/${SHA}?function=big`));
  // One folder per namespace: the same bytes in two namespaces are two objects, so deleting
  // a namespace's packages never touches another's.
  it("the store keeps one folder per namespace", () => {
    assert.equal(packageObjectKey("demo", SHA), `demo/${SHA}.pkg`);
    assert.notEqual(packageObjectKey("a", SHA), packageObjectKey("b", SHA));
  });
});
