import assert from "node:assert/strict";
import { request } from "node:https";
import { describe, it } from "node:test";
import { Registry } from "prom-client";
import { freePorts } from "../../test/support/ports.ts";
import { silentLogger } from "../lib/logger.ts";
import { servingCertificate } from "../lib/serving-cert.ts";
import { HttpRoutes } from "./http-trigger.ts";
import { ActivatorServer, activatorMetrics } from "./server.ts";
import { FunctionTable } from "./table.ts";

function activatorServer(): ActivatorServer {
  const registry = new Registry();
  return new ActivatorServer(
    new FunctionTable({ maxWaiting: 10, maxShare: (max) => max, onColdRequest: () => undefined }),
    new HttpRoutes(),
    silentLogger(),
    activatorMetrics(registry),
  );
}

describe("the aggregated API's TLS server", () => {
  it("presents its serving certificate: a client that trusts it completes the handshake and is answered (401 without the API server's client certificate)", async () => {
    const name = "updraft-activator.updraft-system.svc";
    const serving = servingCertificate([name]);
    const clientCA = servingCertificate(["front-proxy-ca"]).cert;
    const [port] = (await freePorts(1)) as [number];
    const server = activatorServer();
    await server.listenAggregated(port, { ...serving, clientCA, trust: { allowedNames: [] } });
    try {
      // The request fails unless the server's certificate verifies against `ca`.
      const answer = await new Promise<{ status: number; body: string }>((resolve, reject) => {
        const req = request(
          {
            host: "127.0.0.1",
            port,
            path: "/apis/invoke.updraft.dev/v1alpha1",
            servername: name,
            ca: serving.cert,
            agent: false,
          },
          (res) => {
            let body = "";
            res.on("data", (c) => {
              body += c;
            });
            res.on("end", () => resolve({ status: res.statusCode ?? 0, body }));
          },
        );
        req.on("error", reject);
        req.end();
      });
      assert.equal(answer.status, 401, answer.body);
      assert.match(answer.body, /no client certificate/);
    } finally {
      await server.drain(200, 0);
    }
  });

  it("a serving pair that does not load stops it at start, naming the certificate", async () => {
    const serving = servingCertificate(["a.svc"]);
    const other = servingCertificate(["b.svc"]);
    const server = activatorServer();
    await assert.rejects(
      async () =>
        server.listenAggregated(0, {
          key: other.key,
          cert: serving.cert,
          clientCA: serving.cert,
          trust: { allowedNames: [] },
        }),
      /the aggregated API's serving certificate or key does not load/,
    );
  });
});
