/**
 * Code packages kept by Updraft (docs/writing-functions.md, "Packages over 1 MB"): a zip or
 * tar.gz that is too large for a ConfigMap is uploaded to the activators, which keep it in
 * the object store the chart names (codeStore), under its namespace and its SHA-256. A
 * Function refers to it as
 *
 *   code: {url: "updraft:packages/<sha256>", sha256: "<sha256>"}
 *
 * and its instances fetch it from the activators with their function's instance key: the
 * store's credentials stay with the activators, and a tenant's pod can fetch only its own
 * namespace's packages.
 *
 *   POST /v1/namespaces/{ns}/packages?sha256=<hex>     (RBAC: create packages) → 201 StoredPackage
 *   GET  /v1/namespaces/{ns}/packages/<hex>?function=F (header x-updraft-instance-key: F's key)
 */

/** What a Function's code.url holds for a kept package: the prefix, then the package's SHA-256. */
export const STORED_PACKAGE_PREFIX = "updraft:packages/";

const SHA256 = /^[a-f0-9]{64}$/;

/** The SHA-256 a kept package's URL names; undefined when the URL is not one. */
export function storedPackageSha(url: string | undefined): string | undefined {
  if (!url?.startsWith(STORED_PACKAGE_PREFIX)) return undefined;
  const sha = url.slice(STORED_PACKAGE_PREFIX.length);
  return SHA256.test(sha) ? sha : undefined;
}

export const storedPackageUrl = (sha256: string): string => `${STORED_PACKAGE_PREFIX}${sha256}`;

/** Where a package is uploaded (POST, the body is the package). */
export const packageUploadPath = (namespace: string, sha256: string): string =>
  `/v1/namespaces/${namespace}/packages?sha256=${sha256}`;

/** Where a function's instance fetches a kept package (GET, with its instance key). */
export const packageFetchPath = (namespace: string, sha256: string, fn: string): string =>
  `/v1/namespaces/${namespace}/packages/${sha256}?function=${fn}`;

/** The upload's answer. */
export interface StoredPackage {
  /** What code.url is to hold. */
  url: string;
  sha256: string;
  bytes: number;
}

/** The object's key in the store's bucket: one folder per namespace. */
export const packageObjectKey = (namespace: string, sha256: string): string => `${namespace}/${sha256}.pkg`;

export const isSha256 = (s: string): boolean => SHA256.test(s);
