/**
 * Updraft serving selected namespaces only (the chart's watchNamespaces, docs/security.md):
 * installed with one namespace listed, it serves that namespace's Functions and Triggers
 * (a timer's adapter included, whose RoleBinding the controller makes there) and ignores
 * another's, and its components hold no cluster-wide rights on namespaced resources — the
 * API server's own authorizer says so.
 */
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import {
  applyYaml,
  deleteNamespace,
  getFunction,
  getTrigger,
  installFullUpdraft,
  invokeFunction,
  isReady,
  kubectl,
  newNamespace,
  nodeFunction,
  SYSTEM_NAMESPACE,
  waitFor,
} from "./harness.ts";

let base = "";
let served = "";
let ignored = "";

const hello = nodeFunction("hello", "exports.main_handler = async (e) => ({ hi: e.name });");

/** What the API server's authorizer answers for a component's ServiceAccount. */
function canI(component: string, verb: string, resource: string, namespace?: string): string {
  const r = kubectl([
    "auth",
    "can-i",
    verb,
    resource,
    ...(namespace ? ["-n", namespace] : ["--all-namespaces"]),
    `--as=system:serviceaccount:${SYSTEM_NAMESPACE}:${component}`,
  ]);
  return r.stdout.trim();
}

describe("serving selected namespaces (watchNamespaces)", () => {
  before(async () => {
    served = await newNamespace("scope-served");
    ignored = await newNamespace("scope-ignored");
    base = await installFullUpdraft({ "watchNamespaces[0]": served });
    applyYaml(served, hello);
    applyYaml(ignored, hello);
    applyYaml(
      served,
      `apiVersion: updraft.dev/v1alpha1
kind: Trigger
metadata: {name: tick}
spec:
  function: hello
  type: Timer
  timer: {cronExpression: "0 0 * * * * *"}
`,
    );
  });
  after(async () => {
    await deleteNamespace(served);
    await deleteNamespace(ignored);
    // Back to the chart's defaults for whatever runs next.
    await installFullUpdraft();
  });

  it("a served namespace's Function becomes Ready and answers", async () => {
    await waitFor("hello Ready", async () => isReady(await getFunction(served, "hello")), 180_000, 500);
    const r = await waitFor(
      "hello answers",
      async () => {
        const res = await invokeFunction(base, served, "hello", { name: "scoped" });
        return res.status === 200 ? res : undefined;
      },
      120_000,
      500,
    );
    assert.deepEqual(r.json, { hi: "scoped" });
  });

  it("a served namespace's timer Trigger gets its adapter (the controller may bind its role there)", async () => {
    const t = await waitFor(
      "tick Ready",
      async () => {
        const o = await getTrigger(served, "tick");
        return isReady(o) ? o : undefined;
      },
      180_000,
      500,
    );
    assert.equal(t.metadata.name, "tick");
  });

  it("another namespace's Function is not served: no status, and the activator does not know it", async () => {
    // By now the served one is Ready: the controller ran, and never wrote this one.
    await waitFor("hello Ready", async () => isReady(await getFunction(served, "hello")), 180_000, 500);
    const fn = await getFunction(ignored, "hello");
    assert.equal(fn.status, undefined, JSON.stringify(fn.status));
    const res = await invokeFunction(base, ignored, "hello", {});
    assert.equal(res.status, 435, res.body);
    assert.equal(res.json.errorType, "FunctionNotFound");
  });

  it("no component may list deployments or secrets cluster-wide; each may in the served namespace", () => {
    assert.equal(canI("updraft-controller", "list", "deployments"), "no");
    assert.equal(canI("updraft-controller", "create", "secrets", ignored), "no");
    assert.equal(canI("updraft-controller", "list", "deployments", served), "yes");
    assert.equal(canI("updraft-autoscaler", "list", "deployments"), "no");
    assert.equal(canI("updraft-autoscaler", "update", "deployments/scale", ignored), "no");
    assert.equal(canI("updraft-activator", "list", "functions.updraft.dev"), "no");
    assert.equal(canI("updraft-activator", "list", "functions.updraft.dev", served), "yes");
    // Reviews stay cluster-scoped: they name no namespace.
    assert.equal(canI("updraft-activator", "create", "tokenreviews.authentication.k8s.io"), "yes");
  });
});
