/** A runtime shim of a custom runtime, for tests that run a real Shim on this host. */
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { shimConfigFromEnv } from "../../src/runtime/config.ts";
import { freePorts } from "./ports.ts";
import { tempDir } from "./temp-dir.ts";

/**
 * A custom runtime's shim configuration on free ports: `script` as the code folder's
 * `file` (bootstrap or scf_bootstrap), with `extra` settings on top. The code folder is
 * cfg.codeDir, for the files a test adds.
 */
export async function customShim(
  prefix: string,
  file: string,
  script: string,
  extra: Record<string, string> = {},
): Promise<{ cfg: ReturnType<typeof shimConfigFromEnv>; port: number }> {
  const codeDir = tempDir(prefix);
  writeFileSync(join(codeDir, file), script, { mode: 0o755 });
  const [port, apiPort, channelPort] = (await freePorts(3)) as [number, number, number];
  const cfg = shimConfigFromEnv(
    {
      ...(process.env as Record<string, string>),
      SCF_RUNTIME: "custom",
      SCF_FUNCTIONNAME: "hello",
      SCF_MEMORY_SIZE: "128",
      UPDRAFT_PORT: String(port),
      // A free port for the instance channel too: the default (8081) may be taken on this
      // host, and a test must not depend on it.
      UPDRAFT_CHANNEL_PORT: String(channelPort),
      SCF_RUNTIME_API_PORT: String(apiPort),
      SCF_USERCODEPATH: codeDir,
      ...extra,
    },
    process.cwd(),
  );
  return { cfg, port };
}
