import type { Server } from "node:http";
import express from "express";
import { collectDefaultMetrics, Registry } from "prom-client";

export function makeRegistry(component: string): Registry {
  const registry = new Registry();
  registry.setDefaultLabels({ component });
  collectDefaultMetrics({ register: registry });
  return registry;
}

/**
 * The operations port every component has: /metrics (Prometheus), /healthz (the process
 * is alive) and /readyz (ready for its work, as `ready()` says).
 */
export function serveOps(registry: Registry, port: number, ready: () => boolean): Promise<Server> {
  const app = express();
  app.disable("x-powered-by");
  app.get("/metrics", async (_req, res) => {
    res.type(registry.contentType).send(await registry.metrics());
  });
  app.get("/healthz", (_req, res) => {
    res.type("text/plain").send("ok");
  });
  app.get("/readyz", (_req, res) => {
    if (ready()) res.type("text/plain").send("ok");
    else res.status(503).type("text/plain").send("not ready");
  });
  return new Promise((resolve, reject) => {
    const server = app.listen(port, () => resolve(server));
    server.once("error", reject);
  });
}
