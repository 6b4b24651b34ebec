/**
 * A random key kept in a Secret: made once by whoever comes first (the controller), read by
 * the others (the activators). 32 random bytes; a second maker finds it made (409) and reads
 * it, so two controller replicas starting at once agree on one key.
 */
import { randomBytes } from "node:crypto";
import type { CoreV1Api } from "@kubernetes/client-node";
import { isAlreadyExists, isNotFound, UpdraftError } from "./errors.ts";

export interface SecretKeyRef {
  namespace: string;
  name: string;
  field: string;
  /** hex: the value is 64 printable hex characters (a password an environment variable holds); else 32 raw bytes. */
  format?: "hex";
}

/** The key, made if there is none yet. */
export async function ensureSecretKey(core: CoreV1Api, ref: SecretKeyRef): Promise<Buffer> {
  const data = await ensureSecret(core, ref, () => ({
    [ref.field]: ref.format === "hex" ? Buffer.from(randomBytes(32).toString("hex")) : randomBytes(32),
  }));
  const key = data[ref.field];
  if (!key)
    throw new UpdraftError("InvalidSecret", `Secret ${ref.namespace}/${ref.name} has no field ${ref.field}`);
  return key;
}

/**
 * A Secret made once with what `make` gives, by whoever comes first: when it is there
 * already (or another replica makes it first, 409) it is left as it is. Its data, read back.
 */
export async function ensureSecret(
  core: CoreV1Api,
  ref: { namespace: string; name: string },
  make: () => Record<string, Buffer>,
): Promise<Record<string, Buffer>> {
  const existing = await readAll(core, ref);
  if (existing) return existing;
  try {
    await core.createNamespacedSecret({
      namespace: ref.namespace,
      body: {
        apiVersion: "v1",
        kind: "Secret",
        type: "Opaque",
        metadata: {
          name: ref.name,
          namespace: ref.namespace,
          labels: { "app.kubernetes.io/managed-by": "updraft", "app.kubernetes.io/part-of": "updraft" },
        },
        data: encodeSecretData(make()),
      },
    });
  } catch (err) {
    if (!isAlreadyExists(err)) throw err;
  }
  const made = await readAll(core, ref);
  if (!made)
    throw new UpdraftError("InvalidSecret", `Secret ${ref.namespace}/${ref.name} vanished as it was made`);
  return made;
}

/** A Secret's data as bytes (the API gives base64). */
export function decodeSecretData(data: Record<string, string> | undefined): Record<string, Buffer> {
  return Object.fromEntries(Object.entries(data ?? {}).map(([k, v]) => [k, Buffer.from(v, "base64")]));
}

/** Bytes as a Secret's data (base64). */
export function encodeSecretData(data: Record<string, Buffer>): Record<string, string> {
  return Object.fromEntries(Object.entries(data).map(([k, v]) => [k, v.toString("base64")]));
}

async function readAll(
  core: CoreV1Api,
  ref: { namespace: string; name: string },
): Promise<Record<string, Buffer> | undefined> {
  try {
    const s = await core.readNamespacedSecret({ namespace: ref.namespace, name: ref.name });
    return decodeSecretData(s.data);
  } catch (err) {
    if (isNotFound(err)) return undefined;
    throw err;
  }
}

/** The key once someone made it: polled every second until `timeoutMs`. */
export async function waitForSecretKey(
  core: CoreV1Api,
  ref: SecretKeyRef,
  timeoutMs: number,
): Promise<Buffer> {
  return (await waitForSecret(core, ref, [ref.field], timeoutMs))[ref.field]!;
}

/**
 * The fields of a Secret once someone made it, all from one read (a key and the certificate
 * made with it never come from two versions of the Secret): polled every second until
 * `timeoutMs`; a Secret without one of them is InvalidSecret at once.
 */
export async function waitForSecret(
  core: CoreV1Api,
  ref: { namespace: string; name: string },
  fields: readonly string[],
  timeoutMs: number,
): Promise<Record<string, Buffer>> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const found = await readAll(core, ref);
    if (found) {
      const missing = fields.find((f) => !found[f]?.length);
      if (missing !== undefined)
        throw new UpdraftError(
          "InvalidSecret",
          `Secret ${ref.namespace}/${ref.name} has no field ${missing}`,
        );
      return found;
    }
    if (Date.now() >= deadline)
      throw new UpdraftError(
        "InvalidSecret",
        `Secret ${ref.namespace}/${ref.name} did not appear within ${timeoutMs} ms`,
      );
    await new Promise((r) => setTimeout(r, 1000));
  }
}
