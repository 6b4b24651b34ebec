/** updraft-autoscaler: wiring only. Config, logger, leader election, the autoscaler, drain. */

import { hostname } from "node:os";
import { CoordinationV1Api } from "@kubernetes/client-node";
import { Autoscaler } from "../../autoscaler/autoscaler.ts";
import { ServiceAccountAuthenticator } from "../../lib/auth.ts";
import { kubeTokenReviewer } from "../../lib/auth-io.ts";
import { envInt, envPort, envString } from "../../lib/env.ts";
import { ApiEventRecorder, kubeEventSink } from "../../lib/events.ts";
import { useUndiciFromNpm } from "../../lib/http-client.ts";
import { loadKubeConfig, NAMESPACE_LIST, parseScope } from "../../lib/kube.ts";
import { LeaderElector } from "../../lib/leader.ts";
import { makeLogger } from "../../lib/logger.ts";
import { makeRegistry, serveOps } from "../../lib/metrics.ts";

async function main(): Promise<void> {
  useUndiciFromNpm();
  const apiPort = envPort(process.env, "UPDRAFT_PORT", 8080);
  const metricsPort = envPort(process.env, "UPDRAFT_METRICS_PORT", 9090);
  // The most instances of a Function that sets no scaling.maxInstances (0: no limit).
  const defaultMaxInstances = envInt(process.env, "UPDRAFT_DEFAULT_MAX_INSTANCES", 100, 0, 1_000_000);
  const log = makeLogger("autoscaler", process.env.LOG_LEVEL ?? "info");
  const kc = loadKubeConfig();
  const registry = makeRegistry("autoscaler");
  // Activity reports and wake-ups come only from the activators' ServiceAccount: a report
  // scales a function, so no other pod may send one.
  const activators = envString(
    process.env,
    "UPDRAFT_ACTIVATOR_USERNAME",
    "system:serviceaccount:updraft-system:updraft-activator",
    /^system:serviceaccount:[a-z0-9-]+:[a-z0-9-]+$/,
  );
  // Only these namespaces' Functions (the chart's watchNamespaces); empty: every namespace.
  const scope = parseScope(envString(process.env, "UPDRAFT_WATCH_NAMESPACES", "", NAMESPACE_LIST));
  const autoscaler = new Autoscaler(kc, log, registry, {
    ...(scope ? { scope } : {}),
    ...(defaultMaxInstances > 0 ? { defaultMaxInstances } : {}),
    reporters: new ServiceAccountAuthenticator(kubeTokenReviewer(kc), new Set([activators])),
    events: new ApiEventRecorder(kubeEventSink(kc), "updraft-autoscaler", log, () => new Date()),
  });
  await autoscaler.start(apiPort);
  const elector = new LeaderElector(
    kc.makeApiClient(CoordinationV1Api),
    {
      namespace: process.env.UPDRAFT_NAMESPACE ?? "updraft-system",
      name: process.env.UPDRAFT_LEASE_NAME ?? "updraft-autoscaler",
      identity: process.env.POD_NAME ?? `${hostname()}-${process.pid}`,
      leaseDurationSeconds: 15,
      renewDeadlineMs: 10_000,
      retryPeriodMs: 2_000,
    },
    log,
    { onStartedLeading: () => autoscaler.setLeading(true), onStoppedLeading: () => process.exit(1) },
  );
  elector.start();
  const ops = await serveOps(registry, metricsPort, () => true);
  log.info("started", { apiPort, metricsPort, defaultMaxInstances });
  const stop = async () => {
    await autoscaler.stop();
    await elector.stop();
    ops.close();
    process.exit(0);
  };
  process.on("SIGTERM", () => void stop());
  process.on("SIGINT", () => void stop());
}

main().catch((err: unknown) => {
  console.error(`updraft-autoscaler: ${err instanceof Error ? err.message : String(err)}`);
  process.exit(1);
});
