/**
 * updraft-node: the local cluster's node agent. Wiring only: config (fail fast), logger,
 * image table, agent; SIGTERM stops every pod's processes, removes their sandboxes and
 * marks the Node not ready.
 */
import { readFileSync } from "node:fs";
import { resolve } from "node:path";
import { loadKubeConfig } from "../../lib/kube.ts";
import { makeLogger } from "../../lib/logger.ts";
import { NodeAgent } from "../../node/agent.ts";
import { parseNodeConfig } from "../../node/config.ts";
import { parseImageTable } from "../../node/images.ts";

async function main(): Promise<void> {
  const repo = resolve(import.meta.dirname, "../../..");
  const cfg = parseNodeConfig(process.env, repo);
  const log = makeLogger("node", cfg.logLevel);
  const images = parseImageTable(readFileSync(cfg.imageTable, "utf8"), {
    REPO: repo,
    NODE24_BIN: resolve(process.execPath, ".."),
  });
  const agent = new NodeAgent(loadKubeConfig(), cfg, images, log);
  let stopping = false;
  const shutdown = async (signal: string) => {
    if (stopping) return;
    stopping = true;
    log.info("stopping", { signal });
    await agent.stop();
    log.info("stopped");
    process.exit(0);
  };
  process.on("SIGTERM", () => void shutdown("SIGTERM"));
  process.on("SIGINT", () => void shutdown("SIGINT"));
  await agent.start();
}

main().catch((err: unknown) => {
  console.error(`updraft-node: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`);
  process.exit(1);
});
