import assert from "node:assert/strict";
import { describe, it } from "node:test";
import type {
  CoreV1Event,
  V1ConfigMap,
  V1Deployment,
  V1NetworkPolicy,
  V1Pod,
  V1RoleBinding,
  V1Secret,
  V1Service,
  V1ServiceAccount,
} from "@kubernetes/client-node";
import type { UpdraftFunction, UpdraftTrigger } from "../api/v1alpha1.ts";
import type { Cache } from "../lib/kube.ts";
import { silentLogger } from "../lib/logger.ts";
import type { ControllerApi } from "./api.ts";
import { type BuilderConfig, childName } from "./builders.ts";
import { FunctionReconciler } from "./function-reconciler.ts";
import { InstancePolicies } from "./network-policy.ts";
import { INSTANCE_FAILURE_GRACE_MS } from "./status.ts";

/** A cache backed by a map, as an informer's would be. */
class MapCache<T extends { metadata?: { name?: string; namespace?: string } }> implements Cache<T> {
  readonly items = new Map<string, T>();
  put(o: T): void {
    this.items.set(`${o.metadata?.namespace}/${o.metadata?.name}`, structuredClone(o));
  }
  get(name: string, namespace?: string): T | undefined {
    return this.items.get(`${namespace}/${name}`);
  }
  list(namespace?: string): ReadonlyArray<T> {
    return [...this.items.values()].filter(
      (o) => namespace === undefined || o.metadata?.namespace === namespace,
    );
  }
}

/** Records every write and, like the apiserver plus an informer, reflects it into the caches. */
class FakeApi implements ControllerApi {
  writes: string[] = [];
  userConfigMaps = new Map<string, V1ConfigMap>();
  readonly fns: MapCache<UpdraftFunction>;
  readonly deps: MapCache<V1Deployment>;
  readonly svcs: MapCache<V1Service>;
  readonly cms: MapCache<V1ConfigMap>;
  constructor(
    fns: MapCache<UpdraftFunction>,
    deps: MapCache<V1Deployment>,
    svcs: MapCache<V1Service>,
    cms: MapCache<V1ConfigMap>,
  ) {
    this.fns = fns;
    this.deps = deps;
    this.svcs = svcs;
    this.cms = cms;
  }
  async deleteDeployment(namespace: string, name: string) {
    this.writes.push(`delete deployment ${name}`);
    this.deps.items.delete(`${namespace}/${name}`);
  }
  async deleteService(namespace: string, name: string) {
    this.writes.push(`delete service ${name}`);
    this.svcs.items.delete(`${namespace}/${name}`);
  }
  async ensureServiceAccount(sa: V1ServiceAccount) {
    this.writes.push(`ensure serviceaccount ${sa.metadata?.name}`);
  }
  async ensureRoleBinding(rb: V1RoleBinding) {
    this.writes.push(`ensure rolebinding ${rb.metadata?.name}`);
  }
  secrets = new Map<string, V1Secret>();
  async ensureSecret(sec: V1Secret) {
    this.writes.push(`ensure secret ${sec.metadata?.name}`);
    this.secrets.set(`${sec.metadata?.namespace}/${sec.metadata?.name}`, sec);
  }
  policies = new Map<string, V1NetworkPolicy>();
  async ensureNetworkPolicy(p: V1NetworkPolicy) {
    this.writes.push(`ensure networkpolicy ${p.metadata?.namespace}/${p.metadata?.name}`);
    this.policies.set(`${p.metadata?.namespace}/${p.metadata?.name}`, p);
  }
  async readConfigMap(namespace: string, name: string) {
    return this.userConfigMaps.get(`${namespace}/${name}`);
  }
  async createConfigMap(cm: V1ConfigMap) {
    this.writes.push(`create configmap ${cm.metadata?.name}`);
    this.cms.put(cm);
    return cm;
  }
  async deleteConfigMap(namespace: string, name: string) {
    this.writes.push(`delete configmap ${name}`);
    this.cms.items.delete(`${namespace}/${name}`);
  }
  async createDeployment(d: V1Deployment) {
    this.writes.push(`create deployment ${d.metadata?.name}`);
    const stored = { ...structuredClone(d), status: { observedGeneration: 1 } };
    stored.metadata = { ...stored.metadata, generation: 1 };
    this.deps.put(stored);
    return stored;
  }
  async replaceDeployment(d: V1Deployment) {
    this.writes.push(`update deployment ${d.metadata?.name}`);
    // Like the apiserver: a spec change bumps metadata.generation.
    const stored = structuredClone(d);
    stored.metadata = { ...stored.metadata, generation: (d.metadata?.generation ?? 1) + 1 };
    this.deps.put(stored);
    return stored;
  }
  async createService(s: V1Service) {
    this.writes.push(`create service ${s.metadata?.name}`);
    this.svcs.put(s);
    return s;
  }
  async replaceService(s: V1Service) {
    this.writes.push(`update service ${s.metadata?.name}`);
    this.svcs.put(s);
    return s;
  }
  async replaceFunctionStatus(fn: UpdraftFunction) {
    this.writes.push(`update status ${fn.metadata.name}`);
    this.fns.put(fn);
  }
  async replaceTriggerStatus(_t: UpdraftTrigger) {
    this.writes.push("update trigger status");
  }
  async createEvent(_e: CoreV1Event) {}
}

function setup(
  spec: Partial<UpdraftFunction["spec"]> = {},
  cfg: Partial<BuilderConfig> = {},
  withPolicies = false,
) {
  const fns = new MapCache<UpdraftFunction>();
  const deps = new MapCache<V1Deployment>();
  const svcs = new MapCache<V1Service>();
  const cms = new MapCache<V1ConfigMap>();
  const pods = new MapCache<V1Pod>();
  const api = new FakeApi(fns, deps, svcs, cms);
  fns.put({
    apiVersion: "updraft.dev/v1alpha1",
    kind: "Function",
    metadata: { name: "hello", namespace: "ns", uid: "u1", generation: 1 },
    spec: {
      runtime: "nodejs24",
      handler: "index.main_handler",
      code: { inline: { "index.js": "v1" } },
      ...spec,
    },
  });
  const r = new FunctionReconciler({
    functions: fns,
    deployments: deps,
    services: svcs,
    codeConfigMaps: cms,
    pods,
    api,
    events: { record: () => undefined },
    cfg: { runtimeImage: (rt) => `img-${rt}`, activatorUrl: "http://a", ...cfg },
    now: () => new Date("2026-01-01T00:00:00Z"),
    log: silentLogger(),
    ...(withPolicies ? { instancePolicies: new InstancePolicies(api, "updraft-system") } : {}),
  });
  return { fns, deps, svcs, cms, pods, api, r };
}

describe("FunctionReconciler", () => {
  it("with NetworkPolicies on, the namespace's policy exists before the first Deployment, and is not asked for again", async () => {
    const { api, r } = setup({}, {}, true);
    await r.reconcile("ns/hello");
    const writes = api.writes.map((w) => w.split(" ").slice(0, 2).join(" "));
    assert.ok(
      writes.indexOf("ensure networkpolicy") >= 0 &&
        writes.indexOf("ensure networkpolicy") < writes.indexOf("create deployment"),
      writes.join(", "),
    );
    assert.ok(api.policies.has("ns/updraft-instances"));
    api.writes = [];
    await r.reconcile("ns/hello");
    assert.ok(!api.writes.some((w) => w.startsWith("ensure networkpolicy")), api.writes.join(", "));
  });

  it("creates code ConfigMap, Deployment, Service and writes status once", async () => {
    const { api, r, fns } = setup();
    await r.reconcile("ns/hello");
    assert.deepEqual(
      api.writes.map((w) => w.split(" ").slice(0, 2).join(" ")),
      ["create configmap", "create deployment", "create service", "update status"],
    );
    const fn = fns.get("hello", "ns")!;
    assert.equal(fn.status?.observedGeneration, 1);
    assert.equal(fn.status?.conditions?.find((c) => c.type === "Ready")?.status, "True");
  });

  it("with instance keys: the key's Secret before the Deployment that reads it, and nothing again once converged", async () => {
    let master = "m1";
    const instanceKeys = {
      function: (ns: string, n: string) => `${master}:${ns}/${n}`,
      pool: (ns: string) => `${master}:${ns}`,
    };
    const { api, r, deps } = setup({}, { instanceKeys });
    await r.reconcile("ns/hello");
    assert.deepEqual(
      api.writes.filter((w) => /secret|deployment/.test(w)),
      ["ensure secret updraft-fn-hello-key", "create deployment fn-hello"],
    );
    const secret = api.secrets.get("ns/updraft-fn-hello-key")!;
    assert.equal(Buffer.from(secret.data!.key!, "base64").toString(), "m1:ns/hello");
    assert.equal(secret.metadata?.ownerReferences?.[0]?.uid, "u1", "goes with its Function");
    const env = deps.get("fn-hello", "ns")!.spec!.template.spec!.containers[0]!.env!;
    assert.deepEqual(env.find((e) => e.name === "UPDRAFT_INSTANCE_KEY")?.valueFrom?.secretKeyRef, {
      name: "updraft-fn-hello-key",
      key: "key",
    });
    api.writes = [];
    await r.reconcile("ns/hello");
    assert.deepEqual(api.writes, [], "no Secret read or write per reconcile");
    // A new master key: the Secret is rewritten and the pods roll onto it.
    master = "m2";
    await r.reconcile("ns/hello");
    assert.deepEqual(
      api.writes.filter((w) => /secret|deployment/.test(w)),
      ["ensure secret updraft-fn-hello-key", "update deployment fn-hello"],
    );
  });

  it("refuses inline code over what a ConfigMap holds: CodeReady False, no child made", async () => {
    // Four files of 260,000 bytes: each within the CRD's per-file limit, 1,040,000 in all.
    const big = "x".repeat(260_000);
    const { api, r, fns } = setup({
      code: { inline: { "a.js": big, "b.js": big, "c.js": big, "d.js": big } },
    });
    await r.reconcile("ns/hello");
    assert.deepEqual(api.writes, ["update status hello"], "no ConfigMap, Deployment or Service");
    const code = fns.get("hello", "ns")!.status?.conditions?.find((c) => c.type === "CodeReady");
    assert.equal(code?.status, "False");
    assert.equal(code?.reason, "InlineCodeTooLarge");
    assert.match(code?.message ?? "", /1040016 bytes, over the 1000000/);
  });

  // A kept package with no code store to fetch it from would start pods that can only fail:
  // refused at once, with the switch that turns it on.
  it("a kept package where no code store is configured: CodeReady False CodeStoreNotConfigured, no child made", async () => {
    const sha = "c".repeat(64);
    const { api, r, fns } = setup({ code: { url: `updraft:packages/${sha}`, sha256: sha } });
    await r.reconcile("ns/hello");
    assert.deepEqual(api.writes, ["update status hello"], "no ConfigMap, Deployment or Service");
    const code = fns.get("hello", "ns")!.status?.conditions?.find((c) => c.type === "CodeReady");
    assert.deepEqual([code?.status, code?.reason], ["False", "CodeStoreNotConfigured"]);
    assert.match(code?.message ?? "", /codeStore\.enabled/);
  });
  it("a kept package with the code store on gets its Deployment, the package's hash its code hash", async () => {
    const sha = "c".repeat(64);
    const { api, r, fns } = setup(
      { code: { url: `updraft:packages/${sha}`, sha256: sha } },
      { codeStore: true },
    );
    await r.reconcile("ns/hello");
    assert.ok(api.writes.includes("create deployment fn-hello"), api.writes.join(", "));
    assert.equal(fns.get("hello", "ns")!.status?.codeSha256, sha);
  });

  it("code.image is ready at once (the image is pulled by the kubelet) and gets its Deployment", async () => {
    const { api, r, fns } = setup({
      runtime: "custom",
      handler: undefined,
      code: { image: "example.com/me/fn:1" },
    });
    await r.reconcile("ns/hello");
    assert.ok(api.writes.includes("create deployment fn-hello"), api.writes.join(", "));
    const code = fns.get("hello", "ns")!.status?.conditions?.find((c) => c.type === "CodeReady");
    assert.equal(code?.status, "True");
    assert.equal(code?.reason, "Image");
  });

  it("writes nothing when run again on a converged Function", async () => {
    const { api, r } = setup();
    await r.reconcile("ns/hello");
    api.writes = [];
    await r.reconcile("ns/hello");
    await r.reconcile("ns/hello");
    assert.deepEqual(api.writes, []);
  });

  it("a pod of the function that cannot start makes InstancesHealthy and Ready False with its reason once the kubelet's retries have had their time; another function's pod does not", async () => {
    const { api, r, fns, pods } = setup();
    await r.reconcile("ns/hello");
    // setup()'s clock reads 2026-01-01T00:00:00Z.
    const madeAgo = (ms: number) => new Date(Date.parse("2026-01-01T00:00:00Z") - ms);
    const waiting = (fn: string, pod: string, message: string, ageMs = 60_000): V1Pod => ({
      metadata: {
        name: pod,
        namespace: "ns",
        labels: { "updraft.dev/function": fn },
        creationTimestamp: madeAgo(ageMs),
      },
      status: {
        containerStatuses: [
          {
            name: "function",
            image: "img",
            imageID: "",
            ready: false,
            restartCount: 0,
            state: { waiting: { reason: "CreateContainerConfigError", message } },
          },
        ],
      },
    });
    pods.put(waiting("other", "fn-other-1", 'secret "x" not found'));
    api.writes = [];
    await r.reconcile("ns/hello");
    assert.deepEqual(api.writes, [], "another function's pod changes nothing");

    const cond = (type: string) => fns.get("hello", "ns")!.status?.conditions?.find((c) => c.type === type);
    // 5 s into its life: the kubelet is still retrying; Unknown, and looked at again when
    // the grace ends.
    pods.put(waiting("hello", "fn-hello-1", 'secret "cos-role" not found', 5_000));
    const young = await r.reconcile("ns/hello");
    assert.equal(cond("InstancesHealthy")?.status, "Unknown");
    assert.equal(cond("InstancesHealthy")?.reason, "CreateContainerConfigError");
    assert.equal(cond("Ready")?.status, "Unknown");
    assert.deepEqual(young, { requeueAfterMs: INSTANCE_FAILURE_GRACE_MS - 5_000 });

    pods.put(waiting("hello", "fn-hello-1", 'secret "cos-role" not found'));
    assert.equal(await r.reconcile("ns/hello"), undefined, "nothing left to look at again");
    assert.deepEqual(
      [cond("InstancesHealthy")?.status, cond("InstancesHealthy")?.reason, cond("InstancesHealthy")?.message],
      [
        "False",
        "CreateContainerConfigError",
        'instance fn-hello-1: container function: secret "cos-role" not found',
      ],
    );
    assert.equal(cond("Ready")?.status, "False");
    assert.equal(cond("Ready")?.reason, "CreateContainerConfigError");

    pods.items.delete("ns/fn-hello-1");
    await r.reconcile("ns/hello");
    assert.equal(cond("InstancesHealthy")?.status, "True");
    assert.equal(cond("Ready")?.status, "True");
  });

  it("rolls the Deployment on a spec change but keeps replicas set by the autoscaler", async () => {
    const { api, r, fns, deps } = setup();
    await r.reconcile("ns/hello");
    const d = deps.get(childName("hello"), "ns")!;
    d.spec!.replicas = 7; // the autoscaler scaled it
    deps.put(d);
    const fn = fns.get("hello", "ns")!;
    fn.spec.memoryMB = 512;
    fn.metadata.generation = 2;
    fns.put(fn);
    api.writes = [];
    await r.reconcile("ns/hello");
    assert.ok(api.writes.includes(`update deployment ${childName("hello")}`));
    const after = deps.get(childName("hello"), "ns")!;
    assert.equal(after.spec?.replicas, 7);
    assert.equal(after.spec?.template.spec?.containers[0]?.resources?.limits?.memory, "640Mi");
    assert.equal(fns.get("hello", "ns")?.status?.observedGeneration, 2);
  });

  it("a code change makes a new ConfigMap and deletes the old one once rolled out", async () => {
    const { api, r, fns, cms, deps } = setup();
    await r.reconcile("ns/hello");
    const oldCm = [...cms.items.values()][0]!.metadata!.name!;
    const fn = fns.get("hello", "ns")!;
    fn.spec.code = { inline: { "index.js": "v2" } };
    fn.metadata.generation = 2;
    fns.put(fn);
    await r.reconcile("ns/hello");
    assert.equal(cms.items.size, 2, "the old ConfigMap stays until the rollout completes");
    const d = deps.get(childName("hello"), "ns")!;
    d.status = { observedGeneration: d.metadata!.generation, replicas: 0, updatedReplicas: 0 };
    deps.put(d);
    api.writes = [];
    await r.reconcile("ns/hello");
    assert.deepEqual(
      api.writes.filter((w) => w.includes("configmap")),
      [`delete configmap ${oldCm}`],
    );
  });

  it("waits for a missing configMapRef without making a Deployment, and says why", async () => {
    const { api, r, fns } = setup({ code: { configMapRef: { name: "mine" } } });
    const result = await r.reconcile("ns/hello");
    assert.ok(!api.writes.some((w) => w.startsWith("create deployment")));
    const fn = fns.get("hello", "ns")!;
    const code = fn.status?.conditions?.find((c) => c.type === "CodeReady");
    assert.deepEqual([code?.status, code?.reason], ["False", "ConfigMapNotFound"]);
    assert.equal(fn.status?.conditions?.find((c) => c.type === "Ready")?.status, "False");
    assert.ok(result?.requeueAfterMs, "looked at again later");
  });

  it("never takes over a Deployment it does not own", async () => {
    const { api, r, fns, deps } = setup();
    deps.put({
      metadata: {
        name: childName("hello"),
        namespace: "ns",
        ownerReferences: [{ uid: "someone-else" } as never],
      },
      spec: { selector: {}, template: {} },
    });
    await r.reconcile("ns/hello");
    assert.ok(!api.writes.some((w) => w.includes("deployment")));
    const ready = fns.get("hello", "ns")?.status?.conditions?.find((c) => c.type === "DeploymentReady");
    assert.deepEqual([ready?.status, ready?.reason], ["False", "NotOwned"]);
  });

  it("does nothing for a Function that is gone", async () => {
    const { api, r } = setup();
    await r.reconcile("ns/other");
    assert.deepEqual(api.writes, []);
  });
});
