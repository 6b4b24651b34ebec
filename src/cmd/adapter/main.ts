/**
 * updraft-adapter: one Trigger's adapter (timer, Kafka, queue, object storage). Wiring only:
 * parse config (fail fast), build logger and client, run, drain on SIGTERM.
 */
import { CustomObjectsApi } from "@kubernetes/client-node";
import { parseAdapterConfig } from "../../adapter/config.ts";
import { AdapterRunner } from "../../adapter/runner.ts";
import { GROUP, TRIGGERS, type UpdraftTrigger, VERSION } from "../../api/v1alpha1.ts";
import { useUndiciFromNpm } from "../../lib/http-client.ts";
import { loadKubeConfig } from "../../lib/kube.ts";
import { makeLogger } from "../../lib/logger.ts";
import { makeRegistry } from "../../lib/metrics.ts";

async function main(): Promise<void> {
  useUndiciFromNpm();
  const cfg = parseAdapterConfig(process.env);
  const log = makeLogger("adapter", cfg.logLevel);
  const custom = loadKubeConfig().makeApiClient(CustomObjectsApi);
  const api = {
    get: (namespace: string, name: string) =>
      custom.getNamespacedCustomObject({
        group: GROUP,
        version: VERSION,
        plural: TRIGGERS,
        namespace,
        name,
      }) as Promise<UpdraftTrigger>,
    replaceStatus: async (t: UpdraftTrigger) => {
      await custom.replaceNamespacedCustomObjectStatus({
        group: GROUP,
        version: VERSION,
        plural: TRIGGERS,
        namespace: t.metadata.namespace!,
        name: t.metadata.name!,
        body: t,
      });
    },
  };
  const runner = new AdapterRunner(
    cfg,
    api,
    log.child({ trigger: `${cfg.namespace}/${cfg.trigger}` }),
    makeRegistry("adapter"),
  );

  let stopping = false;
  const shutdown = async (signal: string) => {
    if (stopping) return;
    stopping = true;
    log.info("draining", { signal });
    await runner.stop();
    log.info("stopped");
    process.exit(0);
  };
  process.on("SIGTERM", () => void shutdown("SIGTERM"));
  process.on("SIGINT", () => void shutdown("SIGINT"));
  await runner.start();
}

main().catch((err: unknown) => {
  console.error(`updraft-adapter: ${err instanceof Error ? err.message : String(err)}`);
  process.exit(1);
});
