/**
 * Integration-test harness: talks to the real local cluster that `make test` starts
 * (KUBECONFIG and UPDRAFT_CLUSTER_DIR come from `hack/cluster.sh env`), installs Updraft's
 * CRDs and RBAC from deploy/, and runs the controller as a child process with the
 * ServiceAccount identity and RBAC it would have in a cluster.
 */
import { type ChildProcess, spawn, spawnSync } from "node:child_process";
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { AppsV1Api, CoreV1Api, CustomObjectsApi } from "@kubernetes/client-node";
import yaml from "js-yaml";
import { loadKubeConfig } from "../../src/lib/kube.ts";
import { freePort } from "../support/ports.ts";
import { tempDir } from "../support/temp-dir.ts";

export const ROOT = resolve(import.meta.dirname, "../..");
export const SYSTEM_NAMESPACE = "updraft-system";
export const CONTROLLER_USER = `system:serviceaccount:${SYSTEM_NAMESPACE}:updraft-controller`;

export const kc = loadKubeConfig();
export const core = kc.makeApiClient(CoreV1Api);
export const apps = kc.makeApiClient(AppsV1Api);
export const custom = kc.makeApiClient(CustomObjectsApi);

export function kubectl(args: string[], input?: string): { code: number; stdout: string; stderr: string } {
  const r = spawnSync("kubectl", args, { input, encoding: "utf8", timeout: 60_000 });
  return { code: r.status ?? -1, stdout: r.stdout ?? "", stderr: r.stderr ?? "" };
}

export function kubectlOk(args: string[], input?: string): string {
  const r = kubectl(args, input);
  if (r.code !== 0) throw new Error(`kubectl ${args.join(" ")} failed: ${r.stderr}`);
  return r.stdout;
}

/**
 * The identity the tests call functions as: a ServiceAccount bound to the chart's
 * updraft-invoker ClusterRole in every namespace (invoke functions, read invocation records),
 * and a token for it from the TokenRequest API — the invoke API takes Kubernetes tokens.
 */
export const TEST_INVOKER = { namespace: "default", name: "updraft-test-invoker" };
let testInvokerToken: string | undefined;

export function invokerToken(): string {
  if (testInvokerToken) return testInvokerToken;
  kubectlOk(
    ["apply", "-f", "-"],
    `apiVersion: v1
kind: ServiceAccount
metadata: {name: ${TEST_INVOKER.name}, namespace: ${TEST_INVOKER.namespace}}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata: {name: ${TEST_INVOKER.name}}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: updraft-invoker}
subjects: [{kind: ServiceAccount, name: ${TEST_INVOKER.name}, namespace: ${TEST_INVOKER.namespace}}]
`,
  );
  testInvokerToken = kubectlOk([
    "create",
    "token",
    TEST_INVOKER.name,
    "-n",
    TEST_INVOKER.namespace,
    "--duration=6h",
  ]).trim();
  return testInvokerToken;
}

/** The Authorization header of the tests' invoker, for calls to the invoke API. */
export function invokeAuth(): { authorization: string } {
  return { authorization: `Bearer ${invokerToken()}` };
}

/** Polls `check` until it returns a truthy value or the deadline passes. */
type Falsy = undefined | null | false | 0 | "";

export async function waitFor<T>(
  what: string,
  check: () => Promise<T> | T,
  timeoutMs = 30_000,
  everyMs = 200,
): Promise<Exclude<T, Falsy>> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const v = await check();
      if (v) return v as Exclude<T, Falsy>;
    } catch (err) {
      last = err;
    }
    if (Date.now() > deadline) {
      throw new Error(
        `timed out after ${timeoutMs} ms waiting for ${what}${last ? `: ${String(last)}` : ""}`,
      );
    }
    await new Promise((r) => setTimeout(r, everyMs));
  }
}

let imageTag: string | undefined;

/** The tag of this tree's images in the local registry (built and pushed when missing). */
export function localImageTag(): string {
  if (imageTag) return imageTag;
  imageTag = process.env.UPDRAFT_IMAGE_TAG;
  if (!imageTag) {
    const r = spawnSync(join(ROOT, "hack/images.sh"), ["project"], { encoding: "utf8" });
    if (r.status !== 0) throw new Error(`building the images failed: ${r.stderr}`);
    imageTag = r.stdout.trim();
  }
  return imageTag;
}

/** Where the local registry serves this tree's runtime images (the chart's default registry). */
export const RUNTIME_IMAGE_PREFIX = "localhost:5000/updraft/runtime-";

/**
 * Installs or upgrades Updraft with Helm, as a user does (hack/install.sh: the namespace
 * labelled restricted, `helm upgrade --install --wait`), with this tree's images and the
 * given chart values. Values not given go back to the chart's defaults, and so does anything
 * a test changed by hand on the release's objects (Helm's three-way merge).
 */
export function helmInstall(values: Record<string, string | number | boolean> = {}): void {
  keepRestartedLogs();
  const r = spawnSync(join(ROOT, "hack/install.sh"), [SYSTEM_NAMESPACE, ...helmSets(values)], {
    encoding: "utf8",
    timeout: 360_000,
  });
  if (r.status !== 0) throw new Error(`helm install failed: ${r.stderr}`);
}

/**
 * helmInstall without blocking this process: what the test does meanwhile (a load on the
 * activators while they are replaced) goes on. helmInstall's spawnSync stops the event loop
 * for the whole upgrade — requests and their answers wait in the kernel, idle connections
 * are not seen to close.
 */
export function helmInstallAsync(values: Record<string, string | number | boolean> = {}): Promise<void> {
  keepRestartedLogs();
  return new Promise((resolve, reject) => {
    const child = spawn(join(ROOT, "hack/install.sh"), [SYSTEM_NAMESPACE, ...helmSets(values)], {
      stdio: ["ignore", "ignore", "pipe"],
      timeout: 360_000,
    });
    let stderr = "";
    child.stderr.on("data", (d: Buffer) => {
      stderr += d.toString();
    });
    child.on("error", reject);
    child.on("close", (code) =>
      code === 0 ? resolve() : reject(new Error(`helm install failed (${code}): ${stderr}`)),
    );
  });
}

/**
 * The log of every Updraft container that restarted, as it was before its last restart,
 * kept in the cluster's logs folder (restarted-<pod>-<container>-<restarts>.log): an
 * install replaces the pods, and the kubelet drops a pod's logs with it — a component
 * that crashed mid-test would leave no trace of why.
 */
function keepRestartedLogs(): void {
  const r = kubectl(["-n", SYSTEM_NAMESPACE, "get", "pods", "-o", "json"]);
  if (r.code !== 0) return;
  const pods = JSON.parse(r.stdout) as {
    items: Array<{
      metadata: { name: string };
      status?: { containerStatuses?: Array<{ name: string; restartCount: number }> };
    }>;
  };
  const dir = join(process.env.UPDRAFT_CLUSTER_DIR ?? join(ROOT, ".cluster"), "logs");
  for (const pod of pods.items)
    for (const c of pod.status?.containerStatuses ?? []) {
      if (c.restartCount === 0) continue;
      const file = join(dir, `restarted-${pod.metadata.name}-${c.name}-${c.restartCount}.log`);
      if (existsSync(file)) continue;
      const log = kubectl(["-n", SYSTEM_NAMESPACE, "logs", pod.metadata.name, "-c", c.name, "--previous"]);
      writeFileSync(file, log.stdout + log.stderr);
      process.stderr.write(
        `[harness] ${pod.metadata.name}/${c.name} restarted ${c.restartCount}×: ${file}\n`,
      );
    }
}

/** Numbers and booleans typed as such (the chart's schema checks), strings as strings; a comma separates --set pairs, so one inside a value is escaped. */
function helmSets(values: Record<string, string | number | boolean>): string[] {
  return Object.entries({ "image.tag": localImageTag(), ...values }).flatMap(([k, v]) =>
    typeof v === "string" ? ["--set-string", `${k}=${v.replaceAll(",", "\\,")}`] : ["--set", `${k}=${v}`],
  );
}

let installed = false;

/** Updraft installed with its controller and autoscaler parked: tests run the controller themselves. */
export function installUpdraft(): void {
  if (installed) return;
  helmInstall();
  // A controller installed by `make up` (or an earlier test file) would fight the ones the
  // tests start, and its autoscaler would scale the Deployments these tests scale by hand
  // (it owns replicas): park both. installFullUpdraft brings them back.
  for (const d of ["updraft-controller", "updraft-autoscaler"]) {
    kubectl(["-n", SYSTEM_NAMESPACE, "scale", `deployment/${d}`, "--replicas=0"]);
    kubectl([
      "-n",
      SYSTEM_NAMESPACE,
      "wait",
      "--for=delete",
      "pod",
      "-l",
      `app.kubernetes.io/name=${d}`,
      "--timeout=60s",
    ]);
  }
  kubectlOk([
    "wait",
    "--for=condition=Established",
    "crd/functions.updraft.dev",
    "crd/triggers.updraft.dev",
    "--timeout=60s",
  ]);
  installed = true;
}

let nsCounter = 0;
export async function newNamespace(prefix: string): Promise<string> {
  const name = `${prefix}-${process.pid}-${++nsCounter}-${Date.now().toString(36)}`.slice(0, 63);
  await core.createNamespace({ body: { metadata: { name, labels: { "updraft.dev/test": "true" } } } });
  // ServiceAccount admission needs the default ServiceAccount; wait for it so pods could be made.
  await waitFor(`default ServiceAccount in ${name}`, () =>
    core.readNamespacedServiceAccount({ name: "default", namespace: name }),
  );
  return name;
}

export async function deleteNamespace(name: string): Promise<void> {
  await core.deleteNamespace({ name }).catch(() => undefined);
}

/** A kubeconfig that authenticates as one of Updraft's ServiceAccounts (token from the TokenRequest API). */
export async function controllerKubeconfig(serviceAccount = "updraft-controller"): Promise<string> {
  const tr = await core.createNamespacedServiceAccountToken({
    name: serviceAccount,
    namespace: SYSTEM_NAMESPACE,
    body: { spec: { audiences: [], expirationSeconds: 7200 } },
  });
  const cluster = kc.getCurrentCluster()!;
  const dir = tempDir("updraft-kc");
  const file = join(dir, "controller.kubeconfig");
  writeFileSync(
    file,
    yaml.dump({
      apiVersion: "v1",
      kind: "Config",
      clusters: [
        { name: "local", cluster: { server: cluster.server, "certificate-authority": cluster.caFile } },
      ],
      users: [{ name: "controller", user: { token: tr.status?.token } }],
      contexts: [{ name: "local", context: { cluster: "local", user: "controller" } }],
      "current-context": "local",
    }),
  );
  return file;
}

export { freePort };

export interface RunningController {
  proc: ChildProcess;
  identity: string;
  metricsPort: number;
  logs: () => string;
  /** Value of a counter on /metrics summed over series whose labels include `match`. */
  metric: (name: string, match?: string) => Promise<number>;
  stop: (signal?: NodeJS.Signals) => Promise<void>;
}

let controllerCounter = 0;

export async function startController(env: Record<string, string> = {}): Promise<RunningController> {
  installUpdraft();
  const kubeconfig = await controllerKubeconfig();
  const metricsPort = await freePort();
  const identity = `test-controller-${process.pid}-${++controllerCounter}`;
  const proc = spawn(process.execPath, [join(ROOT, "src/cmd/controller/main.ts")], {
    env: {
      PATH: process.env.PATH ?? "",
      KUBECONFIG: kubeconfig,
      UPDRAFT_METRICS_PORT: String(metricsPort),
      POD_NAME: identity,
      LOG_LEVEL: "debug",
      UPDRAFT_RUNTIME_IMAGE_PREFIX: RUNTIME_IMAGE_PREFIX,
      UPDRAFT_RUNTIME_IMAGE_TAG: localImageTag(),
      UPDRAFT_ADAPTER_IMAGE: `localhost:5000/updraft/controller:${localImageTag()}`,
      ...env,
    },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let out = "";
  proc.stdout?.on("data", (b: Buffer) => {
    out += b.toString();
  });
  proc.stderr?.on("data", (b: Buffer) => {
    out += b.toString();
  });
  const metric = async (name: string, match = ""): Promise<number> => {
    const res = await fetch(`http://127.0.0.1:${metricsPort}/metrics`);
    const text = await res.text();
    let sum = 0;
    for (const line of text.split("\n")) {
      if (!line.startsWith(name) || line.startsWith("#")) continue;
      const rest = line.slice(name.length);
      if (rest[0] !== "{" && rest[0] !== " ") continue;
      if (match && !line.includes(match)) continue;
      sum += Number(line.slice(line.lastIndexOf(" ") + 1));
    }
    return sum;
  };
  await waitFor("controller metrics endpoint", async () => {
    if (proc.exitCode !== null) throw new Error(`controller exited: ${out}`);
    return (await fetch(`http://127.0.0.1:${metricsPort}/healthz`)).ok;
  });
  return {
    proc,
    identity,
    metricsPort,
    logs: () => out,
    metric,
    stop: async (signal = "SIGTERM") => {
      if (proc.exitCode !== null || proc.signalCode !== null) return;
      const exited = new Promise((r) => proc.once("exit", r));
      proc.kill(signal);
      await exited;
    },
  };
}

export async function getFunction(namespace: string, name: string): Promise<Fn> {
  return (await custom.getNamespacedCustomObject({
    group: "updraft.dev",
    version: "v1alpha1",
    plural: "functions",
    namespace,
    name,
  })) as Fn;
}

export async function getTrigger(namespace: string, name: string): Promise<Fn> {
  return (await custom.getNamespacedCustomObject({
    group: "updraft.dev",
    version: "v1alpha1",
    plural: "triggers",
    namespace,
    name,
  })) as Fn;
}

export interface Fn {
  metadata: { name: string; namespace: string; generation: number; resourceVersion: string; uid: string };
  spec: Record<string, unknown>;
  status?: {
    observedGeneration?: number;
    conditions?: Array<{ type: string; status: string; reason?: string; message?: string }>;
    url?: string;
    replicas?: number;
    codeSha256?: string;
    firedCount?: number;
    failedCount?: number;
    lastFireTime?: string;
  };
}

export const condition = (o: Fn | undefined, type: string) =>
  o?.status?.conditions?.find((c) => c.type === type);

/** A Function is converged when its status describes its current generation and Ready is True. */
export function isReady(o: Fn | undefined): boolean {
  return (
    !!o && o.status?.observedGeneration === o.metadata.generation && condition(o, "Ready")?.status === "True"
  );
}

export interface AuditEvent {
  verb: string;
  user: { username: string };
  objectRef?: { resource?: string; subresource?: string; namespace?: string; name?: string };
  responseStatus?: { code?: number };
  stageTimestamp: string;
}

/** Write requests in the apiserver's audit log (hack/audit-policy.yaml logs only writes). */
export function auditWrites(filter: (e: AuditEvent) => boolean): AuditEvent[] {
  const dir = process.env.UPDRAFT_CLUSTER_DIR ?? join(ROOT, ".cluster");
  const text = readFileSync(join(dir, "logs/audit.log"), "utf8");
  const events: AuditEvent[] = [];
  for (const line of text.split("\n")) {
    if (!line) continue;
    const e = JSON.parse(line) as AuditEvent;
    if (filter(e)) events.push(e);
  }
  return events;
}

export function applyYaml(namespace: string, text: string): void {
  kubectlOk(["apply", "-n", namespace, "-f", "-"], text);
}

/**
 * Updraft as users install it (Helm, hack/install.sh) with every component running and the
 * given chart values (others at the chart's defaults), and the activator's base URL: its
 * ClusterIP, which kube-proxy makes reachable from this machine.
 */
export async function installFullUpdraft(
  values: Record<string, string | number | boolean> = {},
): Promise<string> {
  helmInstall(values);
  installed = false;
  // Settled, not only rolled out: replaced components drain for several seconds (an old
  // activator still holds its async events and reports activity), which would otherwise
  // overlap the next test's timing.
  await waitFor(
    "no Updraft pod terminating",
    async () =>
      (await core.listNamespacedPod({ namespace: SYSTEM_NAMESPACE })).items.every(
        (p) => !p.metadata?.deletionTimestamp,
      ),
    120_000,
    500,
  );
  const svc = await core.readNamespacedService({ name: "updraft-activator", namespace: SYSTEM_NAMESPACE });
  return `http://${svc.spec!.clusterIP}:8080`;
}

/** The addresses of a component's running pods (app.kubernetes.io/name=updraft-{component}). */
export async function componentPodIPs(component: string): Promise<string[]> {
  const pods = await core.listNamespacedPod({
    namespace: SYSTEM_NAMESPACE,
    labelSelector: `app.kubernetes.io/name=updraft-${component}`,
  });
  return pods.items
    .filter((p) => p.status?.podIP && !p.metadata?.deletionTimestamp && p.status.phase === "Running")
    .map((p) => p.status!.podIP!);
}

/**
 * A component's log lines (every pod, the whole log) that contain `needle`: what a failed
 * assertion shows of, say, the autoscaler's decisions for one function.
 */
export function componentLogLines(component: string, needle: string): string[] {
  const r = kubectl([
    "logs",
    "-n",
    SYSTEM_NAMESPACE,
    "-l",
    `app.kubernetes.io/name=updraft-${component}`,
    "--tail=-1",
    "--prefix",
  ]);
  return r.stdout.split("\n").filter((l) => l.includes(needle));
}

/**
 * A metric summed over a component's running pods (their /metrics on 9090), over the
 * series whose labels include every pair of `labels`; 0 when none has it.
 */
export async function componentMetric(
  component: string,
  metric: string,
  labels: Record<string, string>,
): Promise<number> {
  const wanted = Object.entries(labels).map(([k, v]) => `${k}="${v}"`);
  let sum = 0;
  for (const ip of await componentPodIPs(component)) {
    const text = await (await fetch(`http://${ip}:9090/metrics`)).text();
    for (const line of text.split("\n")) {
      if (!line.startsWith(`${metric}{`) && !line.startsWith(`${metric} `)) continue;
      if (wanted.every((w) => line.includes(w))) sum += Number(line.slice(line.lastIndexOf(" ") + 1));
    }
  }
  return sum;
}

/** How many series of a metric a component's running pods expose with every pair of `labels`. */
export async function componentSeries(
  component: string,
  metric: string,
  labels: Record<string, string>,
): Promise<number> {
  const wanted = Object.entries(labels).map(([k, v]) => `${k}="${v}"`);
  let n = 0;
  for (const ip of await componentPodIPs(component)) {
    const text = await (await fetch(`http://${ip}:9090/metrics`)).text();
    for (const line of text.split("\n"))
      if (line.startsWith(`${metric}{`) && wanted.every((w) => line.includes(w))) n++;
  }
  return n;
}

/** The bundled NATS's client URL (its ClusterIP), for tests that look into the queue (or are refused). */
export async function natsAddress(): Promise<string> {
  const svc = await core.readNamespacedService({ name: "updraft-nats", namespace: SYSTEM_NAMESPACE });
  return `nats://${svc.spec!.clusterIP}:4222`;
}

/**
 * How to reach the bundled NATS as the activators do: its address and the activators' user
 * and password (the controller's Secret) — it lets in no anonymous client.
 */
export async function natsOptions(): Promise<{ servers: string; user: string; pass: string }> {
  const secret = await core.readNamespacedSecret({
    name: "updraft-nats-credentials",
    namespace: SYSTEM_NAMESPACE,
  });
  const pass = Buffer.from(secret.data!["activator-password"]!, "base64").toString();
  return { servers: await natsAddress(), user: "activator", pass };
}

/** The address pods reach this machine at (the node's bridge): tests serve sinks there. */
export const HOST_IP = "10.244.0.1";

/** A Node.js 24 Function manifest with inline code; `extra` is more of its spec, indented. */
export const nodeFunction = (name: string, code: string, extra = "") => `apiVersion: updraft.dev/v1alpha1
kind: Function
metadata: {name: ${name}}
spec:
  runtime: nodejs24
  handler: index.main_handler
${extra}  code:
    inline:
      index.js: |
${code
  .split("\n")
  .map((l) => `        ${l}`)
  .join("\n")}
`;

/** One invocation through the invoke API: status, body (parsed as JSON), request id, SCF error code. */
export async function invokeFunction(base: string, ns: string, fn: string, event: unknown) {
  const res = await fetch(`${base}/v1/namespaces/${ns}/functions/${fn}/invocations`, {
    method: "POST",
    headers: { "content-type": "application/json", ...invokeAuth() },
    body: JSON.stringify(event),
    signal: AbortSignal.timeout(120_000),
  });
  const body = await res.text();
  return {
    status: res.status,
    body,
    json: JSON.parse(body) as Record<string, unknown>,
    requestId: res.headers.get("x-updraft-request-id"),
    functionError: res.headers.get("x-updraft-function-error"),
  };
}

/** The names of a namespace's warm-pool pods of a runtime that are ready now. */
export async function readyPoolPods(ns: string, runtime: string): Promise<string[]> {
  const pods = await core.listNamespacedPod({ namespace: ns, labelSelector: `updraft.dev/pool=${runtime}` });
  return pods.items
    .filter(
      (p) =>
        !p.metadata?.deletionTimestamp &&
        p.status?.conditions?.some((c) => c.type === "Ready" && c.status === "True"),
    )
    .map((p) => p.metadata!.name!);
}

/** A function's instance key (its Secret, which only its pods and the activators read): what a call straight to its pod must carry. */
export async function instanceKeyOf(ns: string, fn: string): Promise<Record<string, string>> {
  const secret = await core.readNamespacedSecret({ namespace: ns, name: `updraft-fn-${fn}-key` });
  return { "x-updraft-instance-key": Buffer.from(secret.data!.key!, "base64").toString() };
}
