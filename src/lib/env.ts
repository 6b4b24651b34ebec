/**
 * Reading configuration from the environment, once, at start. Every helper fails fast with
 * an InvalidConfig error that names the key.
 */
import { UpdraftError } from "./errors.ts";

export type Env = Record<string, string | undefined>;

const invalid = (message: string) => new UpdraftError("InvalidConfig", message, { permanent: true });

export function envInt(env: Env, key: string, def: number, min: number, max: number): number {
  const raw = env[key];
  if (raw === undefined || raw === "") return def;
  const n = Number(raw);
  if (!Number.isInteger(n) || n < min || n > max)
    throw invalid(`${key} must be an integer in [${min}, ${max}], got "${raw}"`);
  return n;
}

export const envPort = (env: Env, key: string, def: number): number => envInt(env, key, def, 1, 65535);

export function envBool(env: Env, key: string, def: boolean): boolean {
  const raw = env[key];
  if (raw === undefined || raw === "") return def;
  if (raw === "true") return true;
  if (raw === "false") return false;
  throw invalid(`${key} must be true or false, got "${raw}"`);
}

export function envString(env: Env, key: string, def: string, pattern?: RegExp): string {
  const raw = env[key];
  const value = raw === undefined || raw === "" ? def : raw;
  if (pattern && !pattern.test(value)) throw invalid(`${key} is not valid: "${value}"`);
  return value;
}

export function envRequired(env: Env, key: string): string {
  const v = env[key];
  if (!v) throw invalid(`${key} is required`);
  return v;
}

/**
 * A comma-separated list of namespace names (spaces around the commas allowed); empty: none.
 * Example: "team-a, team-b" → ["team-a", "team-b"]; "Team_A" fails, naming the key.
 */
export function envNamespaces(env: Env, key: string): string[] {
  const names = envString(env, key, "")
    .split(",")
    .map((n) => n.trim())
    .filter((n) => n !== "");
  for (const n of names)
    if (!/^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/.test(n)) throw invalid(`${key}: "${n}" is not a namespace name`);
  return names;
}
