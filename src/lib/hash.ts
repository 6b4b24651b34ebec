import { createHash } from "node:crypto";

/** Canonical JSON: object keys sorted, so equal values always hash equally. */
export function canonicalJson(value: unknown): string {
  return JSON.stringify(value, (_key, v: unknown) => {
    if (v !== null && typeof v === "object" && !Array.isArray(v)) {
      const sorted: Record<string, unknown> = {};
      for (const k of Object.keys(v as object).sort()) sorted[k] = (v as Record<string, unknown>)[k];
      return sorted;
    }
    return v;
  });
}

export function sha256Hex(data: string | Buffer): string {
  return createHash("sha256").update(data).digest("hex");
}

/** Short content hash for names and annotations: the first n hex digits of SHA-256. */
export function shortHash(value: unknown, n = 10): string {
  return sha256Hex(canonicalJson(value)).slice(0, n);
}
