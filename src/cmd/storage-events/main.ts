/**
 * updraft-storage-events: routes the object store's notification feed to ObjectStorage
 * Triggers' adapters. Wiring only: parse config (fail fast), informer, run, drain.
 */
import { envInt as int, envRequired as required, envString as str } from "../../lib/env.ts";
import { useUndiciFromNpm } from "../../lib/http-client.ts";
import { loadKubeConfig, makeTriggerInformer, NAMESPACE_LIST, parseScope } from "../../lib/kube.ts";
import { makeLogger } from "../../lib/logger.ts";
import { makeRegistry } from "../../lib/metrics.ts";
import { StorageEventsRouter } from "../../storage-events/router.ts";

async function main(): Promise<void> {
  useUndiciFromNpm();
  const env = process.env;
  const cfg = {
    port: int(env, "UPDRAFT_PORT", 8080, 1, 65535),
    brokers: required(env, "UPDRAFT_STORAGE_EVENTS_BROKERS").split(","),
    topic: str(env, "UPDRAFT_STORAGE_EVENTS_TOPIC", "updraft-s3-events", /^[A-Za-z0-9._-]+$/),
    group: str(env, "UPDRAFT_STORAGE_EVENTS_GROUP", "updraft-storage-events", /^[A-Za-z0-9._-]+$/),
    s3Endpoint: str(env, "UPDRAFT_S3_ENDPOINT", "", /^https?:\/\/\S+$/),
    s3Region: str(env, "UPDRAFT_S3_REGION", "us-east-1"),
    s3AccessKey: required(env, "UPDRAFT_S3_ACCESS_KEY"),
    s3SecretKey: required(env, "UPDRAFT_S3_SECRET_KEY"),
    appid: str(env, "UPDRAFT_COS_APPID", "local", /^[A-Za-z0-9-]+$/),
    clusterDomain: str(env, "UPDRAFT_CLUSTER_DOMAIN", "cluster.local"),
  };
  const log = makeLogger("storage-events", str(env, "LOG_LEVEL", "info", /^(error|warn|info|debug)$/));
  const triggers = makeTriggerInformer(
    loadKubeConfig(),
    log,
    parseScope(str(env, "UPDRAFT_WATCH_NAMESPACES", "", NAMESPACE_LIST)),
  );
  const router = new StorageEventsRouter(cfg, triggers, log, makeRegistry("storage-events"));
  await triggers.start();
  await router.start();
  log.info("started", { topic: cfg.topic, endpoint: cfg.s3Endpoint });
  let stopping = false;
  const shutdown = async (signal: string) => {
    if (stopping) return;
    stopping = true;
    log.info("draining", { signal });
    await router.stop();
    await triggers.stop();
    process.exit(0);
  };
  process.on("SIGTERM", () => void shutdown("SIGTERM"));
  process.on("SIGINT", () => void shutdown("SIGINT"));
}

main().catch((err: unknown) => {
  console.error(`updraft-storage-events: ${err instanceof Error ? err.message : String(err)}`);
  process.exit(1);
});
