/**
 * Autoscaling and concurrency limits on the local cluster, through the activator: a steady
 * load settles at ceil(R·D / (perInstance · targetUtilization)), a spike panics and scales
 * up fast, idle functions go back to zero, concurrency.max refuses the excess with 432,
 * provisioned instances stay warm.
 */
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { after, before, describe, it } from "node:test";
import {
  applyYaml,
  apps,
  componentLogLines,
  componentMetric,
  componentPodIPs,
  componentSeries,
  core,
  deleteNamespace,
  installFullUpdraft,
  invokeAuth,
  invokerToken,
  kubectlOk,
  newNamespace,
  waitFor,
} from "./harness.ts";

let base = "";
let ns = "";

const sleepFn = (name: string, extra: string) => `apiVersion: updraft.dev/v1alpha1
kind: Function
metadata: {name: ${name}}
spec:
  runtime: python3.11
  handler: index.main_handler
  timeoutSeconds: 30
${extra}  code:
    inline:
      index.py: |
        import time
        def main_handler(event, context):
            time.sleep(event.get("sleep", 0))
            return "slept"
`;

async function invoke(name: string, event: unknown): Promise<number> {
  const res = await fetch(`${base}/v1/namespaces/${ns}/functions/${name}/invocations`, {
    method: "POST",
    headers: invokeAuth(),
    body: JSON.stringify(event),
    signal: AbortSignal.timeout(120_000),
  });
  await res.arrayBuffer();
  return res.status;
}

async function replicas(name: string): Promise<{ spec: number; ready: number }> {
  const d = await apps.readNamespacedDeployment({ name: `fn-${name}`, namespace: ns });
  return { spec: d.spec?.replicas ?? 0, ready: d.status?.readyReplicas ?? 0 };
}

/** Sends `rate` requests per second, each sleeping `duration` s, until stop() is called. */
function steadyLoad(name: string, rate: number, duration: number): { stop: () => Promise<number[]> } {
  const pending: Array<Promise<number>> = [];
  const timer = setInterval(() => pending.push(invoke(name, { sleep: duration })), 1000 / rate);
  return {
    stop: async () => {
      clearInterval(timer);
      return Promise.all(pending);
    },
  };
}

/** The autoscaler's "scaled" log lines for a function of this test's namespace. */
const decisions = (name: string) =>
  componentLogLines("autoscaler", `"${ns}/${name}"`)
    .filter((l) => l.includes('"scaled"'))
    .join("\n");

const autoscalerMetric = (metric: string, fn: string) =>
  componentMetric("autoscaler", metric, { namespace: ns, function: fn });

describe("scaling", () => {
  before(async () => {
    base = await installFullUpdraft();
    ns = await newNamespace("scaling");
  });
  after(async () => deleteNamespace(ns));

  it("a steady load settles at ceil(R·D / (perInstance·target)) within 15 s, holds, then returns to zero", async () => {
    // R = 2/s, D = 1 s → concurrency 2; perInstance 1, target 0.7 → ceil(2.86) = 3.
    applyYaml(ns, sleepFn("steady", "  scaling: {scaleToZeroAfterSeconds: 10}\n"));
    await waitFor("steady Ready at zero", async () => (await replicas("steady")).spec === 0, 60_000);
    const want = Math.ceil((2 * 1) / (1 * 0.7));
    const load = steadyLoad("steady", 2, 1);
    const t0 = Date.now();
    try {
      // Settled: the wanted count ready, or one more (the panic-window noise the hold below
      // allows: an instance added in panic can be ready before the count ever reads 3).
      const seen: string[] = [];
      await waitFor(
        `${want} ready instances`,
        async () => {
          const r = await replicas("steady");
          seen.push(`${((Date.now() - t0) / 1000).toFixed(1)}s:${r.spec}/${r.ready}`);
          return r.ready === want || r.ready === want + 1;
        },
        15_000,
        250,
      ).catch((err: unknown) => {
        throw new Error(`${String(err)}; desired/ready: ${seen.filter((_, i) => i % 4 === 0).join(" ")}`);
      });
      const settledMs = Date.now() - t0;
      assert.ok(settledMs <= 15_000, `settled in ${settledMs} ms`);
      console.log(
        `steady load settled in ${settledMs} ms; desired/ready: ${seen.filter((_, i) => i % 4 === 0).join(" ")}`,
      );
      // Holds: sampled for 10 s, the autoscaler wants that many, or one more: the panic
      // window counts arrivals over 6 s, noisy by a request per activator, and panic keeps
      // an instance it added for a minute (seen once in CI under load: 3,3,3,4,4...;
      // locally it held exactly 3 in every run).
      const samples: number[] = [];
      const end = Date.now() + 10_000;
      while (Date.now() < end) {
        samples.push((await replicas("steady")).spec);
        await new Promise((r) => setTimeout(r, 500));
      }
      assert.ok(
        samples.every((n) => n === want || n === want + 1),
        `held: ${samples.join(",")}; the autoscaler's decisions:\n${decisions("steady")}`,
      );
    } finally {
      const statuses = await load.stop();
      assert.ok(
        statuses.every((s) => s === 200),
        `statuses ${[...new Set(statuses)]}; the autoscaler's decisions:\n${decisions("steady")}`,
      );
    }
    await waitFor(
      "back to zero after the grace period",
      async () => (await replicas("steady")).spec === 0,
      60_000,
      500,
    );
  });

  it("the autoscaler takes reports only from the activators, measures only Functions that exist, and forgets one when it is deleted", async () => {
    applyYaml(ns, sleepFn("brief", "  scaling: {minInstances: 1}\n"));
    await waitFor("brief has an instance", async () => (await replicas("brief")).ready === 1, 120_000);
    const series = () =>
      componentSeries("autoscaler", "updraft_autoscaler_desired_replicas", {
        namespace: ns,
        function: "brief",
      });
    await waitFor("brief's desired-replicas series", async () => (await series()) === 1, 30_000);
    const [ip] = await componentPodIPs("autoscaler");
    // The activators' own identity: a token of their ServiceAccount (TokenRequest).
    const activatorToken = kubectlOk(["create", "token", "updraft-activator", "-n", "updraft-system"]).trim();
    const post = async (path: string, body: unknown, token: string | undefined = activatorToken) => {
      const r = await fetch(`http://${ip}:8080${path}`, {
        method: "POST",
        headers: {
          "content-type": "application/json",
          ...(token ? { authorization: `Bearer ${token}` } : {}),
        },
        body: JSON.stringify(body),
      });
      return { status: r.status, json: (await r.json()) as { code?: string; unknown?: string[] } };
    };
    // A forged report — no token, or any identity but the activators' (a function pod's, a
    // user's) — is refused before it is read: it would scale brief up.
    const forged = {
      activator: "x",
      items: [{ key: `${ns}/brief`, arrivals: 500, held: 500, busy: 0, durationMs: 1000, periodMs: 1000 }],
    };
    const anonymous = await post("/v1/activity", forged, "");
    assert.equal(anonymous.status, 401);
    assert.equal(anonymous.json.code, "Unauthenticated");
    const someoneElse = await post("/v1/activity", forged, invokerToken());
    assert.equal(someoneElse.status, 403);
    assert.equal(someoneElse.json.code, "Forbidden");
    // A report about a name nobody created is named back and not measured; waking it is 404.
    const report = await post("/v1/activity", {
      activator: "test",
      items: [{ key: `${ns}/nobody`, arrivals: 5, held: 5, busy: 0, durationMs: 1000, periodMs: 1000 }],
    });
    assert.equal(report.status, 200);
    assert.deepEqual(report.json.unknown, [`${ns}/nobody`]);
    const wake = await post("/v1/activate", { namespace: ns, name: "nobody" });
    assert.equal(wake.status, 404);
    assert.equal(wake.json.code, "FunctionNotFound");
    assert.equal(
      await componentSeries("autoscaler", "updraft_autoscaler_desired_replicas", {
        namespace: ns,
        function: "nobody",
      }),
      0,
    );
    // Deleted: its windows and series go with it.
    execFileSync("kubectl", ["delete", "function", "brief", "-n", ns, "--wait=true"]);
    await waitFor("brief's series gone", async () => (await series()) === 0, 30_000);
  });

  it("a spike enters panic mode and scales up within 4 s", async () => {
    applyYaml(ns, sleepFn("spiky", "  scaling: {scaleToZeroAfterSeconds: 60, targetUtilization: 1}\n"));
    await waitFor("spiky Ready", async () => (await replicas("spiky")).spec === 0, 60_000);
    // A trickle keeps one instance warm, then 10 concurrent 3 s requests arrive.
    assert.equal(await invoke("spiky", { sleep: 0 }), 200);
    await waitFor("one ready", async () => (await replicas("spiky")).ready === 1, 30_000);
    const t0 = Date.now();
    const spike = Array.from({ length: 10 }, () => invoke("spiky", { sleep: 3 }));
    await waitFor(
      "panic and scale-up",
      async () => {
        const r = await replicas("spiky");
        // Panic entered and a scale-up written (the panic window then keeps growing it).
        return r.spec > 1 && (await autoscalerMetric("updraft_autoscaler_panic_mode", "spiky")) === 1;
      },
      4_000,
      100,
    );
    const took = Date.now() - t0;
    assert.ok(took <= 4_000, `scaled up in ${took} ms`);
    const statuses = await Promise.all(spike);
    assert.ok(
      statuses.every((s) => s === 200),
      `statuses ${statuses}`,
    );
  });

  it("with max: 5, 20 concurrent sync calls give 5 successes and 432 for the rest", async () => {
    applyYaml(
      ns,
      sleepFn("limited", "  concurrency: {max: 5, perInstance: 5}\n  scaling: {minInstances: 1}\n"),
    );
    await waitFor("limited ready", async () => (await replicas("limited")).ready === 1, 60_000);
    const results = await Promise.all(Array.from({ length: 20 }, () => invoke("limited", { sleep: 2 })));
    const ok = results.filter((s) => s === 200).length;
    const refused = results.filter((s) => s === 432).length;
    assert.deepEqual([ok, refused], [5, 15], `statuses ${results}`);
  });

  it("work in flight is not cut when the limits change", async () => {
    applyYaml(
      ns,
      sleepFn("relimit", "  concurrency: {max: 4, perInstance: 2}\n  scaling: {minInstances: 1}\n"),
    );
    await waitFor("relimit ready", async () => (await replicas("relimit")).ready === 1, 60_000);
    // Two 4 s calls in flight, then max and perInstance lowered (the Deployment rolls).
    const inFlight = [invoke("relimit", { sleep: 4 }), invoke("relimit", { sleep: 4 })];
    await waitFor(
      "both running on the instance",
      async () => {
        // Two calls at perInstance 2 ask for a second instance (2 / (2 × 0.7) → 2): count the
        // START lines of every running pod, not of whichever pod the list gives first — a
        // starting one has no log yet.
        const pods = (
          await core.listNamespacedPod({ namespace: ns, labelSelector: "updraft.dev/function=relimit" })
        ).items.filter((p) => p.status?.phase === "Running");
        let started = 0;
        for (const pod of pods) {
          const log = await core.readNamespacedPodLog({ name: pod.metadata!.name!, namespace: ns });
          started += (log.match(/^START RequestId:/gm) ?? []).length;
        }
        return started >= 2;
      },
      30_000,
      100,
    );
    applyYaml(
      ns,
      sleepFn("relimit", "  concurrency: {max: 1, perInstance: 1}\n  scaling: {minInstances: 1}\n"),
    );
    assert.deepEqual(await Promise.all(inFlight), [200, 200]);
    // And the new limit holds afterwards: once the rolled instance serves, 3 at once → 1 runs.
    await waitFor(
      "rolled to the new spec",
      async () => {
        const d = await apps.readNamespacedDeployment({ name: "fn-relimit", namespace: ns });
        return (
          (d.status?.updatedReplicas ?? 0) === 1 &&
          (d.status?.readyReplicas ?? 0) === 1 &&
          (d.status?.replicas ?? 0) === 1
        );
      },
      60_000,
    );
    const after = await Promise.all([1, 2, 3].map(() => invoke("relimit", { sleep: 1 })));
    // max 1 over two activators: one of them admits the function (the other sends it its
    // requests), so exactly one runs — whichever activator each call landed on — and the
    // others are refused with 432.
    assert.deepEqual(
      [after.filter((c) => c === 200).length, after.filter((c) => c === 432).length],
      [1, 2],
      `statuses ${after}`,
    );
  });

  it("provisioned instances stay ready through an idle minute", async () => {
    applyYaml(
      ns,
      sleepFn("warm", "  concurrency: {provisioned: 2}\n  scaling: {scaleToZeroAfterSeconds: 5}\n"),
    );
    await waitFor("2 provisioned ready", async () => (await replicas("warm")).ready === 2, 60_000);
    const end = Date.now() + 60_000;
    while (Date.now() < end) {
      const r = await replicas("warm");
      assert.ok(
        r.spec === 2 && r.ready === 2,
        `at ${Math.round((end - Date.now()) / 1000)} s left: ${JSON.stringify(r)}`,
      );
      await new Promise((res) => setTimeout(res, 2000));
    }
    // Their first invocation logs Provisioned Report, not Init Report.
    const res = await fetch(`${base}/v1/namespaces/${ns}/functions/warm/invocations`, {
      method: "POST",
      body: "{}",
      headers: { ...invokeAuth(), "X-Updraft-Log-Type": "Tail" },
    });
    await res.arrayBuffer();
    const log = Buffer.from(res.headers.get("x-updraft-log-result") ?? "", "base64").toString();
    assert.match(log, /^Provisioned Report RequestId: /m, log);
  });
});
