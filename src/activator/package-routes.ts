/**
 * The invoke API's package routes (protocol/packages.ts): an upload from whoever may create
 * packages in a namespace, and a fetch by a function's own instance. Errors are thrown as
 * UpdraftError; the server answers them through its one table.
 */
import type { IncomingMessage, ServerResponse } from "node:http";
import { pipeline } from "node:stream/promises";
import { UpdraftError } from "../lib/errors.ts";
import { INSTANCE_KEY_HEADER, keyMatches } from "../protocol/instance-key.ts";
import { isSha256 } from "../protocol/packages.ts";
import type { CodeStore } from "./code-store.ts";

const NAME = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;

function storeOf(store: CodeStore | undefined): CodeStore {
  if (!store)
    throw new UpdraftError(
      "NotImplemented",
      "this installation keeps no code packages: set codeStore.enabled (and objectStorage's endpoint and credentials) in the chart",
    );
  return store;
}

/** POST /v1/namespaces/{ns}/packages?sha256=<hex>: the body is kept, 201 with its code.url. */
export async function uploadPackage(
  req: IncomingMessage,
  res: ServerResponse,
  namespace: string,
  query: URLSearchParams,
  codeStore: CodeStore | undefined,
): Promise<void> {
  const store = storeOf(codeStore);
  const sha256 = query.get("sha256") ?? "";
  if (!isSha256(sha256))
    throw new UpdraftError(
      "InvalidParameter",
      "sha256 (the package's SHA-256, 64 lower-case hex digits) is required",
    );
  const declared = req.headers["content-length"];
  if (declared === undefined || !/^\d+$/.test(declared))
    throw new UpdraftError("LengthRequired", "a package upload needs its Content-Length");
  const stored = await store.put(namespace, sha256, req, Number(declared));
  res.writeHead(201, { "Content-Type": "application/json" });
  res.end(JSON.stringify(stored));
}

/**
 * GET /v1/namespaces/{ns}/packages/{sha256}?function=F: only an instance of F (in ns) gets
 * it — the request carries F's instance key. `functionKey` unset (no master key, tests):
 * any caller does.
 */
export async function servePackage(
  req: IncomingMessage,
  res: ServerResponse,
  namespace: string,
  sha256: string,
  query: URLSearchParams,
  codeStore: CodeStore | undefined,
  functionKey: ((namespace: string, name: string) => string) | undefined,
): Promise<void> {
  const fn = query.get("function") ?? "";
  if (!NAME.test(fn))
    throw new UpdraftError("InvalidParameter", "function (the fetching Function's name) is required");
  if (functionKey && !keyMatches(req.headers[INSTANCE_KEY_HEADER], functionKey(namespace, fn)))
    throw new UpdraftError(
      "Forbidden",
      `only an instance of ${namespace}/${fn}, with its instance key, may fetch the packages of ${namespace}`,
    );
  const store = storeOf(codeStore);
  const pkg = await store.get(namespace, sha256);
  res.writeHead(200, {
    "Content-Type": "application/octet-stream",
    ...(pkg.bytes !== undefined ? { "Content-Length": String(pkg.bytes) } : {}),
  });
  await pipeline(pkg.body, res);
}
