import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { type FunctionSpec, resolveFunctionSpec } from "../api/v1alpha1.ts";
import { poolDeploymentName, poolIneligibility } from "./pool.ts";

const base: FunctionSpec = {
  runtime: "nodejs24",
  handler: "index.main_handler",
  code: { inline: { "index.js": "exports.main_handler = async () => 1" } },
};
const pool = { runtime: "nodejs24", memoryMB: 128 };

describe("poolIneligibility", () => {
  const cases: { why: string; spec: FunctionSpec; reason?: RegExp }[] = [
    { why: "an inline Node.js function of the pool's size takes a pool instance", spec: base },
    {
      why: "url code is pulled by the shim, as on a plain instance",
      spec: { ...base, code: { url: "http://store/p.zip", sha256: "ab" } },
    },
    {
      why: "plain env values travel with the specialise call",
      spec: { ...base, env: [{ name: "A", value: "1" }] },
    },
    { why: "another runtime has no pool here", spec: { ...base, runtime: "python3.11" }, reason: /runtime/ },
    {
      why: "a pod's memory limit is fixed at creation",
      spec: { ...base, memoryMB: 256 },
      reason: /memoryMB/,
    },
    { why: "Web functions run their own server", spec: { ...base, type: "Web" }, reason: /Web/ },
    {
      why: "env from a Secret would need the activator to read it",
      spec: { ...base, env: [{ name: "K", valueFrom: { secretKeyRef: { name: "s", key: "k" } } }] },
      reason: /valueFrom/,
    },
    {
      why: "spec.tencentCloud's plain values travel with the specialise call",
      spec: { ...base, tencentCloud: { region: "ap-guangzhou", appId: "1250000000" } },
    },
    {
      why: "the role's keys are read from their Secret by the kubelet, at a pod's creation",
      spec: { ...base, tencentCloud: { credentialsSecret: "cos" } },
      reason: /credentialsSecret/,
    },
    {
      why: "ConfigMap code is a volume of the pod",
      spec: { ...base, code: { configMapRef: { name: "c" } } },
      reason: /ConfigMap/,
    },
    {
      why: "an image function runs the user's image",
      spec: { ...base, code: { image: "r/i:1" } },
      reason: /image/,
    },
    {
      why: "a kept package is fetched with the function's instance key, from an address pool pods are not given",
      spec: { ...base, code: { url: `updraft:packages/${"a".repeat(64)}`, sha256: "a".repeat(64) } },
      reason: /kept package/,
    },
    {
      why: "provisioned instances are warm already",
      spec: { ...base, concurrency: { provisioned: 1 } },
      reason: /provisioned/,
    },
  ];
  for (const c of cases)
    it(c.why, () => {
      const got = poolIneligibility(resolveFunctionSpec(c.spec), pool);
      if (c.reason) assert.match(got ?? "", c.reason);
      else assert.equal(got, undefined);
    });

  it("pool Deployments are named for DNS: dots become dashes", () => {
    assert.equal(poolDeploymentName("python3.11"), "updraft-pool-python3-11");
  });
});
