import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { parseActivatorConfig } from "./config.ts";

describe("parseActivatorConfig", () => {
  it("has working defaults: every call authenticated, the release's own Services, no code store", () => {
    // The whole object: a default that drifts in a refactor shows here.
    assert.deepEqual(parseActivatorConfig({}), {
      logLevel: "info",
      namespace: "updraft-system",
      podIP: "",
      apiPort: 8080,
      metricsPort: 9090,
      aggregatedPort: 0,
      autoscalerUrl: "http://updraft-autoscaler.updraft-system.svc:8080",
      tokenFile: "/var/run/secrets/kubernetes.io/serviceaccount/token",
      authMode: "Kubernetes",
      scope: undefined,
      httpNamespaceDomain: "",
      warmPoolNamespaces: [],
      limits: {
        maxWaiting: 10_000,
        maxWaitingTotal: 10_000,
        maxBufferedBytes: 128 * 1024 * 1024,
        bodyTimeoutMs: 30_000,
      },
      drainPropagationMs: 5000,
      nats: { url: "nats://updraft-nats.updraft-system.svc:4222", user: "", password: "" },
      queue: {
        maxPerFunction: 100_000,
        maxAgeMs: 6 * 3600_000,
        recordTtlMs: 86_400_000,
        duplicateWindowMs: 120_000,
      },
      dispatcher: {
        userRetryDelaysMs: [60_000, 120_000],
        platformBackoffBaseMs: 1000,
        platformBackoffMaxMs: 60_000,
        prefetch: 32,
      },
      keptLogs: { maxAgeSeconds: 86_400, maxBytes: 256 * 1024 * 1024, perFunction: 1000 },
      codeStore: undefined,
    });
  });

  it("the default Services follow UPDRAFT_NAMESPACE (a release installed elsewhere)", () => {
    const cfg = parseActivatorConfig({ UPDRAFT_NAMESPACE: "faas" });
    assert.equal(cfg.autoscalerUrl, "http://updraft-autoscaler.faas.svc:8080");
    assert.equal(cfg.nats.url, "nats://updraft-nats.faas.svc:4222");
  });

  it("reads what the chart sets", () => {
    const cfg = parseActivatorConfig({
      POD_IP: "10.0.0.7",
      UPDRAFT_AUTOSCALER_URL: "http://as:8080/",
      UPDRAFT_NATS_USER: "activator",
      UPDRAFT_NATS_PASSWORD: "s3cret",
      UPDRAFT_WARM_POOL_NAMESPACES: "team-a, team-b",
      UPDRAFT_MAX_WAITING: "50",
      UPDRAFT_BODY_TIMEOUT_SECONDS: "5",
      UPDRAFT_ASYNC_RETRY_DELAYS_SECONDS: "1,2,3",
      UPDRAFT_AUTH_MODE: "None",
      UPDRAFT_CODE_STORE_BUCKET: "code",
      UPDRAFT_S3_ENDPOINT: "http://minio:9000",
      UPDRAFT_S3_ACCESS_KEY: "a",
      UPDRAFT_S3_SECRET_KEY: "b",
    });
    assert.equal(cfg.podIP, "10.0.0.7");
    assert.equal(cfg.autoscalerUrl, "http://as:8080", "a trailing slash is dropped: paths are appended");
    assert.deepEqual(cfg.nats, {
      url: "nats://updraft-nats.updraft-system.svc:4222",
      user: "activator",
      password: "s3cret",
    });
    assert.deepEqual(cfg.warmPoolNamespaces, ["team-a", "team-b"]);
    assert.equal(cfg.limits.maxWaiting, 50);
    assert.equal(cfg.limits.bodyTimeoutMs, 5000);
    assert.deepEqual(cfg.dispatcher.userRetryDelaysMs, [1000, 2000, 3000]);
    assert.equal(cfg.authMode, "None");
    assert.equal(cfg.codeStore?.bucket, "code");
    assert.equal(cfg.codeStore?.endpoint, "http://minio:9000");
  });

  // Each bad value is refused at start, naming its key — not met later, after a wait for a
  // Secret, when the activator first needs it.
  const bad: Array<[why: string, env: Record<string, string>, key: string]> = [
    ["a port out of range", { UPDRAFT_PORT: "70000" }, "UPDRAFT_PORT"],
    [
      "an autoscaler address that is not a URL",
      { UPDRAFT_AUTOSCALER_URL: "autoscaler:8080" },
      "UPDRAFT_AUTOSCALER_URL",
    ],
    ["a NATS address that is not nats://", { UPDRAFT_NATS_URL: "http://nats:4222" }, "UPDRAFT_NATS_URL"],
    ["a NATS user without its password", { UPDRAFT_NATS_USER: "activator" }, "UPDRAFT_NATS_PASSWORD"],
    ["an unknown auth mode", { UPDRAFT_AUTH_MODE: "Basic" }, "UPDRAFT_AUTH_MODE"],
    ["a log level the chart does not offer", { LOG_LEVEL: "verbose" }, "LOG_LEVEL"],
    [
      "retry delays that are not seconds",
      { UPDRAFT_ASYNC_RETRY_DELAYS_SECONDS: "soon" },
      "UPDRAFT_ASYNC_RETRY_DELAYS_SECONDS",
    ],
    [
      "a pool namespace that is no namespace name",
      { UPDRAFT_WARM_POOL_NAMESPACES: "Team_A" },
      "UPDRAFT_WARM_POOL_NAMESPACES",
    ],
    ["a wait limit of zero", { UPDRAFT_MAX_WAITING: "0" }, "UPDRAFT_MAX_WAITING"],
    [
      "a byte budget under one 6 MB event",
      { UPDRAFT_MAX_BUFFERED_BYTES: "1000" },
      "UPDRAFT_MAX_BUFFERED_BYTES",
    ],
    [
      "a watch list that is no namespace list",
      { UPDRAFT_WATCH_NAMESPACES: "a b" },
      "UPDRAFT_WATCH_NAMESPACES",
    ],
    ["a code store without its endpoint", { UPDRAFT_CODE_STORE_BUCKET: "code" }, "UPDRAFT_S3_ENDPOINT"],
    [
      "a code store without credentials",
      { UPDRAFT_CODE_STORE_BUCKET: "code", UPDRAFT_S3_ENDPOINT: "http://s3:9000" },
      "UPDRAFT_S3_ACCESS_KEY",
    ],
  ];
  for (const [why, env, key] of bad)
    it(`refuses ${why}, naming ${key}`, () => {
      assert.throws(
        () => parseActivatorConfig(env),
        (err: Error & { code?: string }) => err.code === "InvalidConfig" && err.message.includes(key),
      );
    });
});
