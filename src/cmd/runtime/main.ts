/**
 * updraft-runtime: PID 1 of a function pod. Wiring only: config from the environment the
 * controller sets (fail fast naming the key), the shim, SIGTERM drain.
 */
import { resolve } from "node:path";
import { UpdraftError } from "../../lib/errors.ts";
import { Shim, type ShimConfig } from "../../runtime/shim.ts";
import { WebShim } from "../../runtime/web.ts";

function num(key: string, def?: number): number {
  const raw = process.env[key];
  if (raw === undefined || raw === "") {
    if (def !== undefined) return def;
    throw new UpdraftError("InvalidConfig", `${key} is required`, { permanent: true });
  }
  const n = Number(raw);
  if (!Number.isFinite(n) || n <= 0)
    throw new UpdraftError("InvalidConfig", `${key} must be a positive number, got "${raw}"`);
  return n;
}

function parse(): ShimConfig {
  const env: Record<string, string> = {};
  for (const [k, v] of Object.entries(process.env)) if (v !== undefined) env[k] = v;
  const runtime = process.env.SCF_RUNTIME;
  if (!runtime) throw new UpdraftError("InvalidConfig", "SCF_RUNTIME is required", { permanent: true });
  const type = process.env.UPDRAFT_FUNCTION_TYPE === "Web" ? "Web" : "Event";
  return {
    runtime,
    handler: process.env._HANDLER ?? "",
    functionType: type,
    codeDir: process.env.SCF_USERCODEPATH ?? "/var/user",
    appDir: resolve(import.meta.dirname, "../../.."),
    memoryMB: num("SCF_MEMORY_SIZE", 128),
    timeoutMs: num("UPDRAFT_TIMEOUT_MS", 3000),
    initTimeoutMs: num("UPDRAFT_INIT_TIMEOUT_MS", 65_000),
    perInstance: num("UPDRAFT_PER_INSTANCE", 1),
    port: num("UPDRAFT_PORT", 8080),
    apiBasePort: num("SCF_RUNTIME_API_PORT", 9001),
    ...(process.env.UPDRAFT_CODE_URL ? { codeUrl: process.env.UPDRAFT_CODE_URL } : {}),
    ...(process.env.UPDRAFT_CODE_SHA256 ? { codeSha256: process.env.UPDRAFT_CODE_SHA256 } : {}),
    ...(process.env.UPDRAFT_CODE_PACKAGE ? { codePackage: process.env.UPDRAFT_CODE_PACKAGE } : {}),
    provisioned: process.env.UPDRAFT_PROVISIONED === "true",
    imageFunction: process.env.UPDRAFT_IMAGE_FUNCTION === "true",
    env,
  };
}

async function main(): Promise<void> {
  const cfg = parse();
  const out = (line: string) => process.stdout.write(`${line}\n`);
  // A Web function's own server answers HTTP; an Event function's handler answers events.
  const shim = cfg.functionType === "Web" ? new WebShim(cfg, out) : new Shim(cfg, out);
  let draining = false;
  const drain = async () => {
    if (draining) return;
    draining = true;
    await shim.drain();
    process.exit(0);
  };
  process.on("SIGTERM", () => void drain());
  process.on("SIGINT", () => void drain());
  await shim.start();
}

main().catch((err: unknown) => {
  console.error(`updraft-runtime: ${err instanceof Error ? err.message : String(err)}`);
  process.exit(1);
});
