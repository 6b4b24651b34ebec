/**
 * Updraft installed, upgraded and uninstalled with Helm — Helm 3 and Helm 4 — as a platform
 * team does: the chart's schema refuses bad values, an upgrade rolls every component while
 * sync calls run and async events wait (nothing accepted is lost; a failed call carries a
 * code), an install into another namespace works end to end, and uninstall leaves the CRDs
 * and users' Functions.
 */
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import {
  applyYaml,
  core,
  custom,
  deleteNamespace,
  getFunction,
  helmInstall,
  helmInstallAsync,
  installFullUpdraft,
  invokeAuth,
  isReady,
  kubectlOk,
  localImageTag,
  newNamespace,
  nodeFunction,
  ROOT,
  SYSTEM_NAMESPACE,
  waitFor,
} from "./harness.ts";

const CHART = join(ROOT, "charts/updraft");

function helm(bin: string, args: string[]): { code: number; stdout: string; stderr: string } {
  const r = spawnSync(bin, args, { encoding: "utf8", timeout: 360_000 });
  return { code: r.status ?? -1, stdout: r.stdout ?? "", stderr: r.stderr ?? "" };
}

interface Call {
  status: number;
  body: string;
  error?: string;
  /** When it was sent, ms since the epoch. */
  at?: number;
}

async function invoke(base: string, ns: string, name: string, body = "{}", async = false): Promise<Call> {
  try {
    const res = await fetch(`${base}/v1/namespaces/${ns}/functions/${name}/invocations`, {
      method: "POST",
      headers: {
        "content-type": "application/json",
        ...invokeAuth(),
        ...(async ? { "x-updraft-invocation-type": "Event" } : {}),
      },
      body,
      signal: AbortSignal.timeout(60_000),
    });
    return { status: res.status, body: await res.text() };
  } catch (err) {
    return { status: 0, body: "", error: String((err as Error).cause ?? err) };
  }
}

describe("installed with Helm", () => {
  let ns: string;
  before(async () => {
    await installFullUpdraft();
    ns = await newNamespace("helm");
  });
  after(async () => {
    await deleteNamespace(ns);
    // Whatever happened above, the release is back in its namespace for the next tests.
    helmInstall();
  });

  it("the release runs in a namespace enforcing restricted, with PodDisruptionBudgets for replicated components", async () => {
    const nsObj = await core.readNamespace({ name: SYSTEM_NAMESPACE });
    assert.equal(nsObj.metadata?.labels?.["pod-security.kubernetes.io/enforce"], "restricted");
    const pdbs = JSON.parse(kubectlOk(["get", "pdb", "-n", SYSTEM_NAMESPACE, "-o", "json"])) as {
      items: Array<{ metadata: { name: string }; spec: { maxUnavailable: number } }>;
    };
    assert.deepEqual(pdbs.items.map((p) => [p.metadata.name, p.spec.maxUnavailable]).sort(), [
      ["updraft-activator", 1],
      ["updraft-controller", 1],
    ]);
    const pods = await core.listNamespacedPod({
      namespace: SYSTEM_NAMESPACE,
      labelSelector: "app.kubernetes.io/instance=updraft",
    });
    assert.ok(pods.items.length >= 6, "controller ×2, activator ×2, autoscaler, NATS");
    for (const p of pods.items) {
      assert.equal(p.spec?.securityContext?.runAsNonRoot, true, p.metadata?.name);
      assert.equal(p.spec?.containers[0]?.securityContext?.readOnlyRootFilesystem, true, p.metadata?.name);
    }
  });

  it("helm lint --strict is clean; a value of the wrong type fails the install, naming the key", () => {
    for (const bin of ["helm", "helm4"]) {
      const lint = helm(bin, ["lint", "--strict", CHART]);
      assert.equal(lint.code, 0, `${bin} lint: ${lint.stdout}${lint.stderr}`);
      assert.doesNotMatch(lint.stdout, /\[(WARNING|ERROR)\]/);
      const bad = helm(bin, [
        "install",
        "updraft-bad",
        CHART,
        "--namespace",
        "updraft-bad",
        "--dry-run=client",
        "--set",
        "controller.replicas=two",
      ]);
      assert.notEqual(bad.code, 0, `${bin} refused the value`);
      assert.match(bad.stderr, /\/controller\/replicas/);
      const unknown = helm(bin, ["template", "u", CHART, "--set", "activator.replica=3"]);
      assert.notEqual(unknown.code, 0);
      assert.match(unknown.stderr, /additional properties 'replica' not allowed/);
    }
  });

  it("helm upgrade rolls every component under sync load with async events waiting: every accepted event ends, failed calls carry a code", async () => {
    const base = await installFullUpdraft();
    applyYaml(
      ns,
      `${nodeFunction("steady", "exports.main_handler = async () => ({ ok: true });", "  scaling: {minInstances: 1}\n")}---
${nodeFunction(
  "slow",
  "exports.main_handler = async (e) => { await new Promise((r) => setTimeout(r, 300)); return e; };",
  "  concurrency: {perInstance: 1}\n  scaling: {minInstances: 1, maxInstances: 1}\n",
)}`,
    );
    await waitFor(
      "both functions serve",
      async () =>
        (await invoke(base, ns, "steady")).status === 200 && (await invoke(base, ns, "slow")).status === 200,
      120_000,
      500,
    );
    // 40 events through a function whose one instance runs one at a time for 0.3 s: most are
    // still waiting in the queue when the activators (their dispatchers) are replaced.
    const accepted: string[] = [];
    for (let i = 0; i < 40; i++) {
      const r = await invoke(base, ns, "slow", JSON.stringify({ i }), true);
      assert.equal(r.status, 202, r.body);
      accepted.push((JSON.parse(r.body) as { requestId: string }).requestId);
    }
    // Steady sync load from 4 clients for the whole upgrade.
    const calls: Call[] = [];
    let loading = true;
    const clients = Array.from({ length: 4 }, async () => {
      while (loading) {
        const at = Date.now();
        calls.push({ ...(await invoke(base, ns, "steady")), at });
      }
    });
    const podsBefore = await core.listNamespacedPod({ namespace: SYSTEM_NAMESPACE });
    const oldPods = new Set(
      podsBefore.items
        .filter((p) => p.metadata?.labels?.["app.kubernetes.io/component"] !== "nats")
        .map((p) => p.metadata!.name!),
    );
    // A changed value in every component's pod template: each Deployment rolls.
    const upgradeAt = Date.now();
    await helmInstallAsync({
      "controller.logLevel": "debug",
      "activator.logLevel": "debug",
      "autoscaler.logLevel": "debug",
    });
    const upgradedAt = Date.now();
    const podsAfter = await core.listNamespacedPod({ namespace: SYSTEM_NAMESPACE });
    assert.ok(
      podsAfter.items
        .filter((p) => !p.metadata?.deletionTimestamp)
        .every((p) => !oldPods.has(p.metadata!.name!)),
      "every component pod was replaced",
    );
    await new Promise((r) => setTimeout(r, 3000)); // load on the new pods too
    loading = false;
    await Promise.all(clients);

    // The load ran while the components were replaced, not only before and after.
    const during = calls.filter((c) => c.at! >= upgradeAt && c.at! <= upgradedAt).length;
    assert.ok(during >= 20, `${during} calls were sent during the upgrade`);
    const ok = calls.filter((c) => c.status === 200).length;
    console.log(`upgrade: ${during} calls sent during it; ${ok} of ${calls.length} answered 200`);
    const failed = calls.filter((c) => c.status !== 200);
    assert.ok(ok > 50, `sync calls kept succeeding during the upgrade (${ok} of ${calls.length})`);
    for (const c of failed) {
      if (c.status === 0) console.log(`failed at ${new Date(c.at!).toISOString()}: ${c.error}`);
    }
    for (const c of failed) {
      assert.notEqual(
        c.status,
        0,
        `a call sent ${c.at! - upgradeAt} ms after the upgrade began failed without an answer: ${c.error}`,
      );
      const body = JSON.parse(c.body) as { errorCode?: number };
      assert.equal(typeof body.errorCode, "number", `a failed call carries a code: ${c.status} ${c.body}`);
    }
    // Every accepted async request reaches a final state.
    const newBase = await installFullUpdraft({
      "controller.logLevel": "debug",
      "activator.logLevel": "debug",
      "autoscaler.logLevel": "debug",
    });
    const pending = new Set(accepted);
    await waitFor(
      "every accepted event final",
      async () => {
        for (const id of [...pending]) {
          const r = await fetch(`${newBase}/v1/namespaces/${ns}/invocations/${id}`, {
            headers: invokeAuth(),
          });
          if (r.status !== 200) continue;
          const rec = (await r.json()) as { status: string };
          if (rec.status === "Succeeded") pending.delete(id);
          else assert.ok(rec.status !== "Failed" && rec.status !== "DeadLettered", `${id}: ${rec.status}`);
        }
        return pending.size === 0;
      },
      180_000,
      1000,
    );
    console.log(
      `upgrade under load: ${calls.length} sync calls, ${failed.length} failed (all coded); ${accepted.length} async events all Succeeded`,
    );
  });

  it("helm uninstall keeps the CRDs and Functions; Helm 4 installs into another namespace and it works end to end", async () => {
    const un = helm("helm", ["uninstall", "updraft", "--namespace", SYSTEM_NAMESPACE, "--wait"]);
    assert.equal(un.code, 0, un.stderr);
    kubectlOk(["get", "crd", "functions.updraft.dev", "triggers.updraft.dev"]);
    assert.ok(await getFunction(ns, "steady"), "the Function outlived the release");
    const other = "updraft-alt";
    try {
      // The kept CRDs still carry the first release's ownership: hack/install.sh passes
      // --take-ownership, which adopts them.
      const r = spawnSync(
        join(ROOT, "hack/install.sh"),
        [other, "--set-string", `image.tag=${localImageTag()}`],
        {
          encoding: "utf8",
          env: { ...process.env, HELM: "helm4" },
          timeout: 360_000,
        },
      );
      assert.equal(r.status, 0, r.stderr);
      const list = helm("helm4", ["list", "--namespace", other, "--output", "json"]);
      assert.equal((JSON.parse(list.stdout) as Array<{ status: string }>)[0]?.status, "deployed");
      const nats = await core.readNamespacedPod({ name: "updraft-nats-0", namespace: other });
      assert.equal(nats.status?.phase, "Running");
      // The controller of the new release writes URLs of its own namespace.
      const fn = await waitFor(
        "status.url in the new namespace",
        async () => {
          const f = await getFunction(ns, "steady");
          return isReady(f) && f.status?.url?.includes(`.${other}.svc`) ? f : undefined;
        },
        60_000,
      );
      assert.match(fn.status!.url!, new RegExp(`^http://updraft-activator\\.${other}\\.svc:8080/`));
      const svc = await core.readNamespacedService({ name: "updraft-activator", namespace: other });
      const base = `http://${svc.spec!.clusterIP}:8080`;
      await waitFor("a sync call through the new release", async () => {
        return (await invoke(base, ns, "steady")).status === 200;
      });
      // The activators answer 503 QueueUnavailable until they have connected to the new
      // release's NATS (which may start after them).
      const ev = await waitFor(
        "an event accepted by the new release's NATS",
        async () => {
          const r = await invoke(base, ns, "steady", "{}", true);
          if (r.status === 503) return undefined;
          assert.equal(r.status, 202, r.body);
          return r;
        },
        60_000,
        500,
      );
      const id = (JSON.parse(ev.body) as { requestId: string }).requestId;
      await waitFor(
        "the event Succeeded",
        async () => {
          const rec = await fetch(`${base}/v1/namespaces/${ns}/invocations/${id}`, { headers: invokeAuth() });
          return rec.status === 200 && ((await rec.json()) as { status: string }).status === "Succeeded";
        },
        60_000,
      );
      const un4 = helm("helm4", ["uninstall", "updraft", "--namespace", other, "--wait"]);
      assert.equal(un4.code, 0, un4.stderr);
      await custom.getClusterCustomObject({
        group: "apiextensions.k8s.io",
        version: "v1",
        plural: "customresourcedefinitions",
        name: "functions.updraft.dev",
      });
    } finally {
      helm("helm4", ["uninstall", "updraft", "--namespace", other, "--wait"]);
      await deleteNamespace(other);
    }
  });
});
