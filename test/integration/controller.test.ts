/**
 * The controller against the real apiserver, running as its own ServiceAccount with the
 * RBAC from deploy/ (so these tests also prove the RBAC is enough).
 */
import assert from "node:assert/strict";
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import yaml from "js-yaml";
import {
  applyYaml,
  apps,
  auditWrites,
  CONTROLLER_USER,
  condition,
  core,
  deleteNamespace,
  getFunction,
  getTrigger,
  invokeFunction,
  isReady,
  kubectlOk,
  newNamespace,
  ROOT,
  type RunningController,
  startController,
  waitFor,
} from "./harness.ts";

const fnYaml = (
  name: string,
  extra = "",
  code = "exports.main_handler = async () => 1",
) => `apiVersion: updraft.dev/v1alpha1
kind: Function
metadata: {name: ${name}}
spec:
  runtime: nodejs24
  handler: index.main_handler
  code: {inline: {index.js: ${JSON.stringify(code)}}}
${extra}`;

const WRITES = "updraft_controller_api_writes_total";
const RECONCILES = "updraft_controller_reconciles_total";

describe("controller", () => {
  let controller: RunningController;
  const namespaces: string[] = [];
  const ns = async (p: string) => {
    const n = await newNamespace(p);
    namespaces.push(n);
    return n;
  };

  before(async () => {
    controller = await startController({ UPDRAFT_RESYNC_SECONDS: "2", UPDRAFT_LEASE_NAME: "it-controller" });
  });
  after(async () => {
    await controller?.stop();
    await Promise.all(namespaces.map(deleteNamespace));
  });

  it("reconciles every example into its children and conditions", async () => {
    const n = await ns("examples");
    const files = readdirSync(join(ROOT, "examples")).filter((f) => f.endsWith(".yaml"));
    const functions: string[] = [];
    const triggers: string[] = [];
    for (const f of files) {
      const text = readFileSync(join(ROOT, "examples", f), "utf8");
      for (const doc of yaml.loadAll(text) as Array<{ kind: string; metadata: { name: string } }>) {
        if (doc?.kind === "Function") functions.push(doc.metadata.name);
        if (doc?.kind === "Trigger") triggers.push(doc.metadata.name);
      }
      applyYaml(n, text);
    }
    assert.ok(functions.length >= 4, "examples hold several functions");
    for (const name of functions) {
      const fn = await waitFor(`${name} Ready`, async () => {
        const f = await getFunction(n, name);
        return isReady(f) ? f : undefined;
      });
      for (const t of ["CodeReady", "DeploymentReady"])
        assert.equal(condition(fn, t)?.status, "True", `${name} ${t}`);
      assert.equal(condition(fn, "Active")?.reason, "ScaledToZero");
      assert.equal(
        fn.status?.url,
        `http://updraft-activator.updraft-system.svc:8080/v1/namespaces/${n}/functions/${name}/invocations`,
      );
      const d = await apps.readNamespacedDeployment({ name: `fn-${name}`, namespace: n });
      assert.equal(d.spec?.replicas, 0, `${name} sits at zero`);
      assert.equal(d.metadata?.ownerReferences?.[0]?.uid, fn.metadata.uid);
      const s = await core.readNamespacedService({ name: `fn-${name}`, namespace: n });
      assert.deepEqual(s.spec?.selector, { "updraft.dev/function": name });
    }
    for (const name of triggers) {
      await waitFor(
        `trigger ${name} Ready`,
        async () => condition(await getTrigger(n, name), "Ready")?.status === "True",
      );
    }
    // The inline examples got their code ConfigMaps; the configMapRef one uses the user's.
    const cms = await core.listNamespacedConfigMap({ namespace: n, labelSelector: "updraft.dev/function" });
    assert.ok(cms.items.length >= functions.length - 1);
    const events = kubectlOk([
      "get",
      "events",
      "-n",
      n,
      "--field-selector",
      "involvedObject.kind=Function",
      "-o",
      "name",
    ]);
    assert.ok(events.trim().length > 0, "Kubernetes Events are recorded for Functions");
  });

  it("creates a Deployment at max(provisioned, minInstances) replicas", async () => {
    const n = await ns("replicas");
    applyYaml(n, fnYaml("warm", "  concurrency: {provisioned: 2}\n  scaling: {minInstances: 1}\n"));
    const d = await waitFor("deployment", () =>
      apps.readNamespacedDeployment({ name: "fn-warm", namespace: n }),
    );
    assert.equal(d.spec?.replicas, 2);
  });

  it("rolls the Deployment on a spec change and never fights whoever owns replicas", async () => {
    const n = await ns("roll");
    applyYaml(n, fnYaml("roll"));
    await waitFor("Ready", async () => isReady(await getFunction(n, "roll")));
    kubectlOk(["scale", "deployment/fn-roll", "-n", n, "--replicas=3"]);
    applyYaml(n, fnYaml("roll", "  memoryMB: 256\n", "exports.main_handler = async () => 2"));
    const d = await waitFor("rolled Deployment", async () => {
      const dep = await apps.readNamespacedDeployment({ name: "fn-roll", namespace: n });
      return dep.spec?.template.spec?.containers[0]?.resources?.limits?.memory === "384Mi" ? dep : undefined;
    });
    assert.equal(d.spec?.replicas, 3, "replicas set by someone else are kept");
    const fn = await waitFor("observed generation 2", async () => {
      const f = await getFunction(n, "roll");
      return f.status?.observedGeneration === 2 ? f : undefined;
    });
    const cmName = d.spec?.template.spec?.volumes?.find((v) => v.name === "code")?.configMap?.name;
    const cm = await core.readNamespacedConfigMap({ name: cmName!, namespace: n });
    assert.equal(cm.data?.["index.js"], "exports.main_handler = async () => 2");
    assert.equal(fn.status?.codeSha256?.length, 64);
    kubectlOk(["scale", "deployment/fn-roll", "-n", n, "--replicas=0"]);
  });

  it("a Trigger whose Function is missing is not Ready, and turns Ready when it appears", async () => {
    const n = await ns("trig");
    applyYaml(
      n,
      `apiVersion: updraft.dev/v1alpha1
kind: Trigger
metadata: {name: tick}
spec: {function: later, type: Timer, timer: {cronExpression: "0 */1 * * * * *"}}
`,
    );
    const t = await waitFor("trigger not ready", async () => {
      const tr = await getTrigger(n, "tick");
      return condition(tr, "Ready")?.status === "False" ? tr : undefined;
    });
    assert.equal(condition(t, "Ready")?.reason, "FunctionNotFound");
    assert.match(condition(t, "Ready")?.message ?? "", /later/);
    assert.equal(
      (await apps.listNamespacedDeployment({ namespace: n, labelSelector: "updraft.dev/trigger=tick" })).items
        .length,
      0,
      "no adapter runs for a Trigger without its Function",
    );
    applyYaml(n, fnYaml("later"));
    await waitFor(
      "trigger ready",
      async () => condition(await getTrigger(n, "tick"), "Ready")?.status === "True",
    );
    const tr = await getTrigger(n, "tick");
    for (const c of ["FunctionFound", "AdapterReady", "SourceReady"])
      assert.equal(condition(tr, c)?.status, "True", c);
    const adapter = await apps.readNamespacedDeployment({ name: "trig-tick", namespace: n });
    assert.equal(
      adapter.metadata?.ownerReferences?.[0]?.uid,
      tr.metadata.uid,
      "the Trigger owns its adapter",
    );
    const pod = adapter.spec?.template.spec;
    assert.equal(pod?.serviceAccountName, "updraft-trigger-adapter");
    assert.equal(pod?.containers[0]?.securityContext?.readOnlyRootFilesystem, true);
    // Deleting the Function stops its Triggers' adapters.
    kubectlOk(["delete", "function", "later", "-n", n, "--wait=true"]);
    await waitFor(
      "adapter gone with its Function",
      async () =>
        (await apps.listNamespacedDeployment({ namespace: n, labelSelector: "updraft.dev/trigger=tick" }))
          .items.length === 0,
      60_000,
    );
    const gone = await waitFor("trigger not ready again", async () => {
      const t2 = await getTrigger(n, "tick");
      return condition(t2, "Ready")?.status === "False" ? t2 : undefined;
    });
    assert.equal(condition(gone, "Ready")?.reason, "FunctionNotFound");
  });

  it("a Trigger cannot reach a Function of the same name in another namespace", async () => {
    const a = await ns("trig-a");
    const b = await ns("trig-b");
    applyYaml(a, fnYaml("target"));
    applyYaml(
      b,
      `apiVersion: updraft.dev/v1alpha1
kind: Trigger
metadata: {name: sneaky}
spec: {function: target, type: Timer, timer: {cronExpression: "0 */1 * * * * *"}}
`,
    );
    await waitFor("function ready in a", async () => isReady(await getFunction(a, "target")));
    const t = await waitFor("trigger status", async () => {
      const tr = await getTrigger(b, "sneaky");
      return condition(tr, "Ready") ? tr : undefined;
    });
    assert.equal(condition(t, "Ready")?.reason, "FunctionNotFound");
  });

  it("inline code over what a ConfigMap holds is reported (InlineCodeTooLarge), and nothing is made", async () => {
    const n = await ns("big");
    const big = "x".repeat(260_000);
    // create, not apply: apply would copy the whole manifest into an annotation.
    kubectlOk(
      ["create", "-n", n, "-f", "-"],
      JSON.stringify({
        apiVersion: "updraft.dev/v1alpha1",
        kind: "Function",
        metadata: { name: "big" },
        spec: {
          runtime: "nodejs24",
          handler: "index.main_handler",
          code: { inline: { "a.js": big, "b.js": big, "c.js": big, "d.js": big } },
        },
      }),
    );
    const fn = await waitFor("CodeReady False", async () => {
      const f = await getFunction(n, "big");
      return condition(f, "CodeReady")?.status === "False" ? f : undefined;
    });
    assert.equal(condition(fn, "CodeReady")?.reason, "InlineCodeTooLarge");
    assert.match(condition(fn, "Ready")?.message ?? "", /code\.url/);
    assert.equal((await apps.listNamespacedDeployment({ namespace: n })).items.length, 0);
  });

  it("a missing configMapRef is reported and the Function recovers when it appears", async () => {
    const n = await ns("cmref");
    applyYaml(
      n,
      `apiVersion: updraft.dev/v1alpha1
kind: Function
metadata: {name: byref}
spec: {runtime: python3.11, handler: index.main_handler, code: {configMapRef: {name: mycode}}}
`,
    );
    const fn = await waitFor("CodeReady False", async () => {
      const f = await getFunction(n, "byref");
      return condition(f, "CodeReady")?.status === "False" ? f : undefined;
    });
    assert.equal(condition(fn, "CodeReady")?.reason, "ConfigMapNotFound");
    assert.equal(condition(fn, "Ready")?.status, "False");
    kubectlOk([
      "create",
      "configmap",
      "mycode",
      "-n",
      n,
      "--from-literal=index.py=def main_handler(e, c): return 1",
    ]);
    await waitFor(
      "Ready after the ConfigMap appears",
      async () => isReady(await getFunction(n, "byref")),
      30_000,
    );
  });

  it("an instance that cannot start is said in InstancesHealthy and Ready (a missing role Secret), and the Function recovers when the Secret appears", async () => {
    const n = await ns("unhealthy");
    applyYaml(
      n,
      fnYaml(
        "keyless",
        `  scaling: {minInstances: 1}
  tencentCloud: {region: ap-guangzhou, credentialsSecret: cos-role}`,
      ),
    );
    // First Unknown while the kubelet retries (the pod's first 30 s), then False.
    let retrying: string | undefined;
    const fn = await waitFor(
      "InstancesHealthy False",
      async () => {
        const f = await getFunction(n, "keyless");
        const c = condition(f, "InstancesHealthy");
        if (c?.status === "Unknown" && c.reason === "CreateContainerConfigError") retrying = c.message;
        return c?.status === "False" ? f : undefined;
      },
      90_000,
      250,
    );
    assert.match(retrying ?? "(never seen)", /"cos-role".*\(being retried\)$/);
    assert.equal(condition(fn, "InstancesHealthy")?.reason, "CreateContainerConfigError");
    assert.match(
      condition(fn, "InstancesHealthy")?.message ?? "",
      /^instance fn-keyless-.*: container function: .*"cos-role"/,
    );
    assert.equal(condition(fn, "Ready")?.reason, "CreateContainerConfigError");
    // A call finds no running instance and one that cannot start: refused at once, with the
    // reason and where to read the rest — not the message, which names the Secret.
    const svc = await core.readNamespacedService({ name: "updraft-activator", namespace: "updraft-system" });
    const refused = await invokeFunction(`http://${svc.spec!.clusterIP}:8080`, n, "keyless", {});
    assert.equal(refused.status, 503, refused.body);
    assert.equal(refused.json.errorType, "FunctionNotReady");
    const said = String(refused.json.errorMessage);
    assert.match(
      said,
      /cannot start an instance: CreateContainerConfigError \(kubectl get function keyless -n /,
    );
    assert.ok(!said.includes("cos-role"), said);
    kubectlOk([
      "create",
      "secret",
      "generic",
      "cos-role",
      "-n",
      n,
      "--from-literal=secretId=AKIDexample",
      "--from-literal=secretKey=example",
    ]);
    // The kubelet tries the container again on its own; nothing else is changed.
    const healthy = await waitFor(
      "Ready once the Secret exists",
      async () => {
        const f = await getFunction(n, "keyless");
        return isReady(f) && condition(f, "InstancesHealthy")?.status === "True" ? f : undefined;
      },
      120_000,
    );
    assert.equal(condition(healthy, "InstancesHealthy")?.reason, "Healthy");
  });

  it("deleting a Function removes all of its children (owner references)", async () => {
    const n = await ns("cascade");
    applyYaml(n, fnYaml("gone"));
    await waitFor("Ready", async () => isReady(await getFunction(n, "gone")));
    kubectlOk(["delete", "function", "gone", "-n", n, "--wait=true"]);
    await waitFor(
      "children gone",
      async () => {
        const [d, s, c] = await Promise.all([
          apps.listNamespacedDeployment({ namespace: n }),
          core.listNamespacedService({ namespace: n }),
          core.listNamespacedConfigMap({ namespace: n, labelSelector: "updraft.dev/function=gone" }),
        ]);
        return d.items.length === 0 && s.items.length === 0 && c.items.length === 0;
      },
      60_000,
    );
  });

  it("an idle Function causes no API writes, though it is reconciled again and again", async () => {
    const n = await ns("idle");
    applyYaml(n, fnYaml("idle"));
    applyYaml(
      n,
      `apiVersion: updraft.dev/v1alpha1
kind: Trigger
metadata: {name: idle}
spec: {function: idle, type: Timer, timer: {cronExpression: "0 */1 * * * * *"}}
`,
    );
    await waitFor("Ready", async () => isReady(await getFunction(n, "idle")));
    await waitFor(
      "trigger Ready",
      async () => condition(await getTrigger(n, "idle"), "Ready")?.status === "True",
    );
    // Settled: a whole resync (every Function reconciled once more) passes without a write.
    const fnCount = () => kubectlOk(["get", "functions", "-A", "--no-headers"]).trim().split("\n").length;
    const fullResync = async () => {
      const start = await controller.metric(RECONCILES, 'kind="function"');
      const n = fnCount();
      await waitFor(
        "a full resync",
        async () => (await controller.metric(RECONCILES, 'kind="function"')) >= start + n,
        30_000,
      );
    };
    const settled = await waitFor(
      "writes settle",
      async () => {
        const a = await controller.metric(WRITES);
        await fullResync();
        return (await controller.metric(WRITES)) === a ? a : undefined;
      },
      60_000,
      0,
    );
    const since = new Date().toISOString();
    const before = await getFunction(n, "idle");
    const deployBefore = await apps.readNamespacedDeployment({ name: "fn-idle", namespace: n });
    // Resync runs every 2 s: three more full rounds of reconciles.
    for (let i = 0; i < 3; i++) await fullResync();
    assert.equal(await controller.metric(WRITES), settled, "the controller counted no writes");
    const after = await getFunction(n, "idle");
    const deployAfter = await apps.readNamespacedDeployment({ name: "fn-idle", namespace: n });
    assert.equal(after.metadata.resourceVersion, before.metadata.resourceVersion);
    assert.equal(deployAfter.metadata?.resourceVersion, deployBefore.metadata?.resourceVersion);
    const writes = auditWrites(
      (e) => e.user.username === CONTROLLER_USER && e.objectRef?.namespace === n && e.stageTimestamp > since,
    );
    assert.deepEqual(writes, [], "the apiserver's audit log shows no writes by the controller");
  });
});

describe("controller restarts", () => {
  const namespaces: string[] = [];
  after(async () => Promise.all(namespaces.map(deleteNamespace)));

  it("a controller killed mid-way and restarted converges, with exactly one set of children", async () => {
    const n = await newNamespace("killed");
    namespaces.push(n);
    const count = 40;
    applyYaml(n, Array.from({ length: count }, (_, i) => fnYaml(`f${i}`)).join("---\n"));
    const lease = "it-restart";
    const first = await startController({ UPDRAFT_LEASE_NAME: lease });
    await waitFor(
      "some Deployments made",
      async () => {
        const d = await apps.listNamespacedDeployment({ namespace: n });
        return d.items.length >= 3;
      },
      30_000,
      20,
    );
    await first.stop("SIGKILL");
    const readyAtKill = (
      await Promise.all(Array.from({ length: count }, (_, i) => getFunction(n, `f${i}`)))
    ).filter(isReady).length;
    assert.ok(readyAtKill < count, `killed before convergence (${readyAtKill}/${count} ready)`);

    // The new controller must wait for the dead one's Lease to expire, then finish the job.
    const second = await startController({ UPDRAFT_LEASE_NAME: lease });
    try {
      await waitFor(
        "all Functions Ready",
        async () => {
          const fns = await Promise.all(Array.from({ length: count }, (_, i) => getFunction(n, `f${i}`)));
          return fns.every(isReady);
        },
        90_000,
        500,
      );
      const [d, s, c] = await Promise.all([
        apps.listNamespacedDeployment({ namespace: n }),
        core.listNamespacedService({ namespace: n }),
        core.listNamespacedConfigMap({ namespace: n, labelSelector: "updraft.dev/function" }),
      ]);
      assert.equal(d.items.length, count);
      assert.equal(s.items.length, count);
      assert.equal(c.items.length, count);
    } finally {
      await second.stop();
    }

    // A third controller starting on a converged cluster writes nothing at all.
    const third = await startController({ UPDRAFT_LEASE_NAME: lease });
    try {
      await waitFor(
        "third controller reconciled everything",
        async () => {
          return (await third.metric(RECONCILES, 'kind="function"')) >= count;
        },
        60_000,
      );
      assert.equal(await third.metric(WRITES), 0, "no writes after a restart on a converged cluster");
    } finally {
      await third.stop();
    }
  });

  it("only the leader works: a standby controller makes no writes", async () => {
    const n = await newNamespace("leader");
    namespaces.push(n);
    const lease = "it-leader";
    const leader = await startController({ UPDRAFT_LEASE_NAME: lease });
    await waitFor("leader elected", () => leader.logs().includes("became leader"));
    const standby = await startController({ UPDRAFT_LEASE_NAME: lease });
    try {
      applyYaml(n, fnYaml("led"));
      await waitFor("Ready", async () => isReady(await getFunction(n, "led")));
      assert.ok(!standby.logs().includes("became leader"));
      assert.equal(await standby.metric(WRITES), 0);
      // The leader steps down on SIGTERM and releases the Lease: the standby takes over at once.
      await leader.stop();
      await waitFor("standby takes over", () => standby.logs().includes("became leader"), 10_000);
    } finally {
      await leader.stop();
      await standby.stop();
    }
  });
});
