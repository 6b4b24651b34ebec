/**
 * updraft-runtime: PID 1 of a function pod. Wiring only: config from the environment the
 * controller sets (fail fast naming the key), the shim, SIGTERM drain. In a warm pool's pod
 * (UPDRAFT_POOL=true) the shim waits to be specialised, and reads the function's
 * configuration then, the same way.
 */
import { resolve } from "node:path";
import { UpdraftError } from "../../lib/errors.ts";
import { POOL_ENV } from "../../protocol/pool.ts";
import { announceInstance, postJson } from "../../runtime/announce.ts";
import { announceConfigFromEnv, shimConfigFromEnv } from "../../runtime/config.ts";
import { recordExitReason } from "../../runtime/exit-reason.ts";
import { PodLog } from "../../runtime/pod-log.ts";
import { Shim } from "../../runtime/shim.ts";
import { WebShim } from "../../runtime/web.ts";

async function main(): Promise<void> {
  const appDir = resolve(import.meta.dirname, "../../..");
  const cfg = shimConfigFromEnv(process.env, appDir);
  const podLog = new PodLog((text) => process.stdout.write(text));
  const out = (line: string) => podLog.line(line);
  // An exit from anywhere (process.exit after a failed specialisation, say) hands the last
  // turn's lines to stdout too: what the pipe takes at once is written, as each line was
  // before they were gathered. A drain waits for stdout to empty instead (below).
  process.on("exit", () => podLog.flush());
  const pool = process.env[POOL_ENV] === "true";
  // A function pod tells the activators where it is once ready; a pool pod never does.
  const announce = pool ? undefined : announceConfigFromEnv(process.env);
  // A Web function's own server answers HTTP; an Event function's handler answers events.
  const shim =
    cfg.functionType === "Web" && !pool
      ? new WebShim(cfg, out)
      : new Shim(cfg, out, pool ? { configFrom: (env) => shimConfigFromEnv(env, appDir) } : undefined);
  let draining = false;
  const drain = async () => {
    if (draining) return;
    draining = true;
    await shim.drain();
    podLog.flush();
    await new Promise<void>((resolve) => process.stdout.write("", () => resolve()));
    process.exit(0);
  };
  process.on("SIGTERM", () => void drain());
  process.on("SIGINT", () => void drain());
  await shim.start();
  if (announce) {
    const outcome = await announceInstance({
      ...announce,
      isReady: () => shim.ready,
      withinMs: cfg.initTimeoutMs,
      post: (url, body) => postJson(url, body, 1000),
    });
    if (outcome !== "announced") console.error(`updraft-runtime: announcing this instance: ${outcome}`);
  }
}

main().catch((err: unknown) => {
  // A coded error keeps its code in front: the controller reads it (SHIM_START_FAILURES).
  const reason =
    err instanceof UpdraftError
      ? `${err.code}: ${err.message}`
      : err instanceof Error
        ? err.message
        : String(err);
  console.error(recordExitReason(reason));
  process.exit(1);
});
