import { isDeepStrictEqual } from "node:util";

export const deepCopy = <T>(value: T): T => structuredClone(value);

/** Structural equality that treats a missing key and an undefined value alike. */
export function semanticEqual(a: unknown, b: unknown): boolean {
  return isDeepStrictEqual(JSON.parse(JSON.stringify(a ?? null)), JSON.parse(JSON.stringify(b ?? null)));
}
