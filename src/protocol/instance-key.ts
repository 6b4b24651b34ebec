/**
 * The credential of a call to a function's instance (docs/security.md): only activators
 * may call an instance, and an instance's port is reachable by every pod, so each call
 * carries its function's key and the shim refuses any call without it.
 *
 * One master key (a Secret in Updraft's namespace, made by the controller on its first
 * start) and a key per function derived from it: HMAC-SHA256(master, "function/{ns}/{name}").
 * The controller writes a function's key into a Secret of the function's namespace, which
 * its pods read; the activators derive it themselves. A function's key opens only that
 * function's instances — the code running in them can read it (same user as the shim) and
 * could only call itself with it. Warm-pool instances, which belong to no function yet,
 * take a key per pool namespace ("pool/{ns}") until they are specialised with a
 * function's. Example: master m, demo/hello → base64url(HMAC(m, "function/demo/hello")).
 */
import { createHmac, timingSafeEqual } from "node:crypto";

/** The request header that carries the key. */
export const INSTANCE_KEY_HEADER = "x-updraft-instance-key";
/** The shim's environment variable that holds the key it expects. */
export const INSTANCE_KEY_ENV = "UPDRAFT_INSTANCE_KEY";
/** The master key's Secret, in Updraft's namespace, and its field. */
export const MASTER_KEY_SECRET = "updraft-instance-key";
export const MASTER_KEY_FIELD = "master";
/** A function's key's Secret, in its namespace ("updraft-fn-hello-key"), and its field. */
export const functionKeySecretName = (functionName: string): string => `updraft-fn-${functionName}-key`;
/** A warm pool's key's Secret, in the pool's namespace. */
export const POOL_KEY_SECRET = "updraft-pool-key";
export const INSTANCE_KEY_FIELD = "key";

export function functionKey(master: Buffer, namespace: string, name: string): string {
  return createHmac("sha256", master).update(`function/${namespace}/${name}`).digest("base64url");
}

export function poolKey(master: Buffer, namespace: string): string {
  return createHmac("sha256", master).update(`pool/${namespace}`).digest("base64url");
}

/**
 * What one activator shows another when it relays a request (to the replica that admits a
 * function with concurrency.max, or an instance's announcement): only the activators hold
 * the master key, so no caller can pass a request off as relayed — which would make the
 * receiving replica serve it without being the function's admitter. HMAC(m, "relay").
 */
export function relayKey(master: Buffer): string {
  return createHmac("sha256", master).update("relay").digest("base64url");
}

/** Whether a presented key is the expected one, in constant time. */
export function keyMatches(presented: string | string[] | undefined, expected: string): boolean {
  if (typeof presented !== "string") return false;
  const a = Buffer.from(presented);
  const b = Buffer.from(expected);
  return a.length === b.length && timingSafeEqual(a, b);
}
