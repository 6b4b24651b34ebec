/**
 * updraft-controller: wiring only. Parse config (fail fast), build logger and clients,
 * elect a leader, run the controller while leading, drain on SIGTERM.
 */
import { ApiregistrationV1Api, CoordinationV1Api, CoreV1Api } from "@kubernetes/client-node";
import { ensureAggregatedTls, trustInApiService } from "../../controller/aggregated-tls.ts";
import { parseControllerConfig } from "../../controller/config.ts";
import { Controller } from "../../controller/controller.ts";
import { useUndiciFromNpm } from "../../lib/http-client.ts";
import { loadKubeConfig } from "../../lib/kube.ts";
import { LeaderElector } from "../../lib/leader.ts";
import { makeLogger } from "../../lib/logger.ts";
import { ensureSecretKey } from "../../lib/master-key.ts";
import { makeRegistry, serveOps } from "../../lib/metrics.ts";
import { functionKey, MASTER_KEY_FIELD, MASTER_KEY_SECRET, poolKey } from "../../protocol/instance-key.ts";
import { NATS_CREDENTIALS_SECRET, NATS_PASSWORD_FIELD } from "../../protocol/naming.ts";

async function main(): Promise<void> {
  useUndiciFromNpm();
  const cfg = parseControllerConfig(process.env);
  const log = makeLogger("controller", cfg.logLevel);
  const kc = loadKubeConfig();
  const registry = makeRegistry("controller");
  // The master key every function's instance key is derived from (protocol/instance-key.ts):
  // made here on the first start, in Updraft's namespace.
  const master = await ensureSecretKey(kc.makeApiClient(CoreV1Api), {
    namespace: cfg.leaseNamespace,
    name: MASTER_KEY_SECRET,
    field: MASTER_KEY_FIELD,
  });
  // The bundled NATS's password for the activators: NATS and the activators read it from
  // the Secret (their pods wait for it on a first install).
  await ensureSecretKey(kc.makeApiClient(CoreV1Api), {
    namespace: cfg.leaseNamespace,
    name: NATS_CREDENTIALS_SECRET,
    field: NATS_PASSWORD_FIELD,
    format: "hex",
  });
  // The aggregated API's serving certificate, which every activator serves and the
  // APIService trusts (controller/aggregated-tls.ts). The APIService is patched in the
  // background: on a first install it may be applied a moment after this pod starts.
  if (cfg.aggregatedApi) {
    const cert = await ensureAggregatedTls(kc.makeApiClient(CoreV1Api), cfg.leaseNamespace);
    const reg = kc.makeApiClient(ApiregistrationV1Api);
    void (async () => {
      for (let attempt = 0; ; attempt++) {
        try {
          const outcome = await trustInApiService(reg, cert);
          if (outcome !== "absent") {
            log.info("aggregated API TLS", { apiService: outcome });
            return;
          }
        } catch (err) {
          log.warn("aggregated API TLS: the APIService could not be updated", { err: String(err) });
        }
        await new Promise((r) => setTimeout(r, Math.min(30_000, 1000 * 2 ** attempt)));
      }
    })();
  }
  const controller = new Controller(kc, cfg, log, registry, {
    function: (namespace, name) => functionKey(master, namespace, name),
    pool: (namespace) => poolKey(master, namespace),
  });
  const ops = await serveOps(registry, cfg.metricsPort, () => controller.ready || !elector?.isLeader);
  log.info("starting", {
    identity: cfg.identity,
    leaderElect: cfg.leaderElect,
    metricsPort: cfg.metricsPort,
  });

  let elector: LeaderElector | undefined;
  const run = () => {
    controller.start().catch((err: unknown) => {
      log.error("controller failed", { err: String(err) });
      process.exit(1);
    });
  };
  if (cfg.leaderElect) {
    elector = new LeaderElector(
      kc.makeApiClient(CoordinationV1Api),
      {
        namespace: cfg.leaseNamespace,
        name: cfg.leaseName,
        identity: cfg.identity,
        leaseDurationSeconds: 15,
        renewDeadlineMs: 10_000,
        retryPeriodMs: 2_000,
      },
      log,
      {
        onStartedLeading: run,
        // A leader that lost its Lease must stop at once: another one is taking over.
        onStoppedLeading: () => process.exit(1),
      },
    );
    elector.start();
  } else {
    run();
  }

  let stopping = false;
  const shutdown = async (signal: string) => {
    if (stopping) return;
    stopping = true;
    log.info("draining", { signal });
    await controller.stop();
    await elector?.stop();
    ops.close();
    log.info("stopped");
    process.exit(0);
  };
  process.on("SIGTERM", () => void shutdown("SIGTERM"));
  process.on("SIGINT", () => void shutdown("SIGINT"));
}

main().catch((err: unknown) => {
  // Config errors name their key; print them plainly and fail fast.
  console.error(`updraft-controller: ${err instanceof Error ? err.message : String(err)}`);
  process.exit(1);
});
