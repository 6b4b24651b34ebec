import assert from "node:assert/strict";
import { describe, it } from "node:test";
import type { V1Container, V1Pod } from "@kubernetes/client-node";
import {
  buildPodStatus,
  ContainerConfigError,
  type ContainerState,
  containerUser,
  expandVars,
  fieldPathValue,
  podPhase,
  resolveEnv,
  restartBackoffMs,
} from "./podspec.ts";

const facts = { hostIP: "10.244.0.1", podIP: "10.244.0.7", apiServiceHost: "10.96.0.1", apiServicePort: 443 };
const pod = (spec: Partial<V1Pod["spec"]> = {}): V1Pod => ({
  metadata: {
    name: "p",
    namespace: "ns",
    uid: "u",
    labels: { app: "web", tier: "x" },
    annotations: { a: "1" },
  },
  spec: { nodeName: "n1", containers: [{ name: "c" }], ...spec },
});
const lookups = {
  configMap: (n: string) => (n === "cm" ? { KEY: "from-cm", OTHER: "o" } : undefined),
  secret: (n: string) => (n === "s" ? { PASSWORD: "hunter2" } : undefined),
};

describe("fieldPathValue", () => {
  const cases: Array<[string, string]> = [
    ["metadata.name", "p"],
    ["metadata.namespace", "ns"],
    ["metadata.uid", "u"],
    ["metadata.labels['app']", "web"],
    ["metadata.annotations['a']", "1"],
    ["metadata.labels", 'app="web"\ntier="x"'],
    ["spec.nodeName", "n1"],
    ["status.podIP", "10.244.0.7"],
    ["status.hostIP", "10.244.0.1"],
  ];
  for (const [path, want] of cases)
    it(`${path} → ${JSON.stringify(want)}`, () => assert.equal(fieldPathValue(pod(), path, facts), want));
  it("refuses an unknown path as a config error", () => {
    assert.throws(() => fieldPathValue(pod(), "spec.nope", facts), ContainerConfigError);
  });
});

describe("resolveEnv", () => {
  it("layers image env, service env, envFrom and env, later winning", () => {
    const c: V1Container = {
      name: "c",
      envFrom: [{ configMapRef: { name: "cm" }, prefix: "CM_" }],
      env: [
        { name: "PATH", value: "/custom" },
        { name: "A", value: "x" },
        { name: "B", value: "$(A)-y $$(A)" },
        { name: "POD", valueFrom: { fieldRef: { fieldPath: "metadata.name" } } },
        { name: "K", valueFrom: { configMapKeyRef: { name: "cm", key: "KEY" } } },
        { name: "PW", valueFrom: { secretKeyRef: { name: "s", key: "PASSWORD" } } },
        { name: "MEM", valueFrom: { resourceFieldRef: { resource: "limits.memory", divisor: "1Mi" } } },
      ],
      resources: { limits: { memory: "128Mi" } },
    };
    const env = resolveEnv(pod(), c, lookups, facts, [{ name: "PATH", value: "/image" }]);
    assert.equal(env.PATH, "/custom");
    assert.equal(env.CM_KEY, "from-cm");
    assert.equal(env.B, "x-y $(A)");
    assert.equal(env.POD, "p");
    assert.equal(env.K, "from-cm");
    assert.equal(env.PW, "hunter2");
    assert.equal(env.MEM, "128");
    assert.equal(env.KUBERNETES_SERVICE_HOST, "10.96.0.1");
    assert.equal(env.KUBERNETES_SERVICE_PORT, "443");
    assert.equal(env.HOSTNAME, "p");
  });
  it("a missing ConfigMap is a config error unless optional", () => {
    const missing: V1Container = {
      name: "c",
      env: [{ name: "X", valueFrom: { configMapKeyRef: { name: "nope", key: "k" } } }],
    };
    assert.throws(() => resolveEnv(pod(), missing, lookups, facts), /configmap "nope" not found/);
    const optional: V1Container = {
      name: "c",
      env: [{ name: "X", valueFrom: { configMapKeyRef: { name: "nope", key: "k", optional: true } } }],
    };
    assert.equal(resolveEnv(pod(), optional, lookups, facts).X, "");
  });
  it("a missing key names the key", () => {
    const c: V1Container = {
      name: "c",
      env: [{ name: "X", valueFrom: { secretKeyRef: { name: "s", key: "nokey" } } }],
    };
    assert.throws(() => resolveEnv(pod(), c, lookups, facts), /couldn't find key nokey in secret s/);
  });
});

describe("expandVars", () => {
  it("replaces known names, keeps unknown ones and unescapes $$", () => {
    assert.equal(expandVars("$(A) $(B) $$(A)", { A: "1" }), "1 $(B) $(A)");
  });
});

describe("containerUser", () => {
  it("container settings win over the pod's", () => {
    assert.deepEqual(
      containerUser(pod({ securityContext: { runAsUser: 5 } }), {
        name: "c",
        securityContext: { runAsUser: 7 },
      }),
      { uid: 7, gid: 7 },
    );
  });
  it("runAsNonRoot without a user is refused, as the kubelet does", () => {
    assert.throws(
      () => containerUser(pod({ securityContext: { runAsNonRoot: true } }), { name: "c" }),
      /runAsNonRoot/,
    );
  });
});

const running: ContainerState["state"] = { kind: "running", startedAt: new Date(0) };
const st = (state: ContainerState["state"], over: Partial<ContainerState> = {}): ContainerState => ({
  name: "c",
  image: "i",
  restartCount: 0,
  ready: false,
  started: true,
  everRan: true,
  state,
  ...over,
});
const term = (exitCode: number): ContainerState["state"] => ({
  kind: "terminated",
  exitCode,
  reason: exitCode === 0 ? "Completed" : "Error",
  startedAt: new Date(0),
  finishedAt: new Date(1),
});

describe("podPhase", () => {
  const cases: Array<{ why: string; policy: string; cs: ContainerState[]; want: string }> = [
    {
      why: "a container not started yet keeps the pod Pending",
      policy: "Always",
      cs: [st({ kind: "waiting", reason: "ContainerCreating" }, { everRan: false })],
      want: "Pending",
    },
    { why: "a running container makes it Running", policy: "Always", cs: [st(running)], want: "Running" },
    {
      why: "a crash-looping container still counts as Running",
      policy: "Always",
      cs: [st({ kind: "waiting", reason: "CrashLoopBackOff" })],
      want: "Running",
    },
    { why: "all exited 0 with Never is Succeeded", policy: "Never", cs: [st(term(0))], want: "Succeeded" },
    {
      why: "one failure with Never is Failed",
      policy: "Never",
      cs: [st(term(0)), st(term(1))],
      want: "Failed",
    },
    {
      why: "a failure with OnFailure will be restarted: Running",
      policy: "OnFailure",
      cs: [st(term(1))],
      want: "Running",
    },
    { why: "OnFailure with success is Succeeded", policy: "OnFailure", cs: [st(term(0))], want: "Succeeded" },
  ];
  for (const c of cases) it(c.why, () => assert.equal(podPhase(c.policy, c.cs), c.want));
});

describe("buildPodStatus", () => {
  it("is Ready when every container is ready, with pod and host IPs", () => {
    const s = buildPodStatus(
      pod(),
      [st(running, { ready: true })],
      { hostIP: "10.244.0.1", podIP: "10.244.0.9", startTime: new Date(0), sandboxReady: true },
      new Date(5),
    );
    assert.equal(s.phase, "Running");
    assert.equal(s.podIP, "10.244.0.9");
    assert.deepEqual(s.podIPs, [{ ip: "10.244.0.9" }]);
    assert.equal(s.conditions?.find((c) => c.type === "Ready")?.status, "True");
    assert.equal(s.containerStatuses?.[0]?.state?.running?.startedAt?.getTime(), 0);
  });
  it("a completed pod is not Ready, with reason PodCompleted", () => {
    const s = buildPodStatus(
      pod({ restartPolicy: "Never" }),
      [st(term(0))],
      { hostIP: "h", startTime: new Date(0), sandboxReady: true },
      new Date(5),
    );
    const ready = s.conditions?.find((c) => c.type === "Ready");
    assert.deepEqual([s.phase, ready?.status, ready?.reason], ["Succeeded", "False", "PodCompleted"]);
  });
});

describe("restartBackoffMs", () => {
  it("doubles from the base and caps at 5 minutes", () => {
    assert.deepEqual(
      [1, 2, 3, 6, 10].map((n) => restartBackoffMs(n, 10_000)),
      [10_000, 20_000, 40_000, 300_000, 300_000],
    );
  });
});
