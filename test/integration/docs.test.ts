/**
 * The user documentation's commands, run as a reader would run them, on the local cluster:
 * each ```sh block of a page in DOCS is run in order as one bash script (so `cd`, variables
 * and here-documents work as in a terminal), in a scratch directory, with the environment
 * `make -s cluster-env` gives (and a copy of the kubeconfig: the pages change its namespace).
 * A block fails on the first command that fails; every `# expect: text` line in it must be
 * found, in order, in what the block printed. Commands that cannot run here are in NOT_RUN,
 * by name and why — and each must still be in the pages, so the list cannot go stale.
 */
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { copyFileSync, mkdirSync, readFileSync } from "node:fs";
import { basename, join } from "node:path";
import { after, before, describe, it } from "node:test";
import { tempDir } from "../support/temp-dir.ts";
import { deleteNamespace, installFullUpdraft, invokerToken, kubectl, ROOT, waitFor } from "./harness.ts";

const DOCS = [
  "docs/getting-started.md",
  "docs/guide-triggers.md",
  "docs/guide-async.md",
  "docs/guide-scaling.md",
  "docs/install.md",
  "docs/cli.md",
  "README.md",
];
/** The namespaces the pages make (and delete at their end): gone before and after a run. */
const PAGE_NAMESPACES = [
  "first-steps",
  "guide-triggers",
  "guide-async",
  "guide-scaling",
  "my-functions",
  "cli-first",
  "readme-tour",
];
/** Pages that run from a clone of the repository (they name its chart); the rest from a scratch directory. */
const FROM_CLONE = new Set(["docs/install.md"]);

/** Lines (their command, without a trailing comment) that are not run, and why. */
const NOT_RUN = new Map<string, string>([
  ["make up", "it makes the cluster this test runs on"],
  ["make test", "it runs this test"],
  ["make cluster-down", "it stops the cluster this test runs on"],
  [
    "for f in Dockerfile runtimes/Dockerfile.*; do ...; done",
    "a sketch for your own registry; make up builds the same images with buildah into the local one",
  ],
  [
    "helm install updraft charts/updraft -n updraft-system --set image.registry=REG --set-string image.tag=TAG",
    "installs into a real cluster with a registry of your own; make up installs this chart here",
  ],
  [
    "helm install updraft charts/updraft -n updraft-system --set image.registry=REGISTRY/updraft --set-string image.tag=TAG",
    "installs into a real cluster from a registry of your own; make up installs this chart here",
  ],
  ["kubectl create namespace updraft-system", "make up made it, with the same label"],
  [
    "kubectl label namespace updraft-system pod-security.kubernetes.io/enforce=restricted",
    "make up labelled it so",
  ],
  [
    "helm install updraft charts/updraft --namespace updraft-system",
    "the release is installed already (make up, and each test file's install)",
  ],
  [
    "make cli-package",
    "test/integration/cli.test.ts builds the package as this target does (hack/cli-package.ts) and installs it",
  ],
  [
    "npm install -g .cache/updraft-cli-0.1.0.tgz",
    "test/integration/cli.test.ts installs the package with npm install -g (under a scratch prefix, not this machine's) and runs it on Node.js 22; here bin/updraft runs the same CLI",
  ],
  [
    'eval "$(make -s cluster-env)"',
    "the test has that environment already, with a copy of the kubeconfig, so that the pages' namespace change touches no other test",
  ],
]);

/** The ```sh blocks of a Markdown page, in order. */
export function shellBlocks(markdown: string): string[] {
  return [...markdown.matchAll(/^```sh\n([\s\S]*?)^```$/gm)].map((m) => m[1] as string);
}

const commandOf = (line: string) => line.replace(/\s+#.*$/, "").trim();

function run(
  script: string,
  env: Record<string, string>,
  cwd: string,
): Promise<{ code: number; out: string }> {
  return new Promise((resolve) => {
    const child = spawn("bash", ["-euo", "pipefail", "-c", script], { cwd, env });
    let out = "";
    child.stdout.on("data", (b: Buffer) => {
      out += b.toString();
    });
    child.stderr.on("data", (b: Buffer) => {
      out += b.toString();
    });
    child.on("close", (code) => resolve({ code: code ?? 1, out }));
  });
}

describe("the user documentation's commands", () => {
  let env: Record<string, string> = {};
  let work = "";
  before(async () => {
    const base = await installFullUpdraft();
    // Namespaces the pages make, left by a run that was stopped.
    for (const name of PAGE_NAMESPACES) {
      if (kubectl(["get", "namespace", name]).code !== 0) continue;
      await deleteNamespace(name);
      await waitFor(
        `${name} gone`,
        async () => kubectl(["get", "namespace", name]).code !== 0,
        180_000,
        1000,
      );
    }
    work = tempDir("updraft-docs");
    const kubeconfig = join(work, "kubeconfig");
    copyFileSync(process.env.KUBECONFIG as string, kubeconfig);
    env = {
      ...(process.env as Record<string, string>),
      KUBECONFIG: kubeconfig,
      UPDRAFT_URL: base,
      UPDRAFT_TOKEN: invokerToken(),
      PATH: `${join(ROOT, "bin")}:${process.env.PATH}`,
    };
  });
  after(async () => {
    // The pages' namespaces, if a failure left them.
    for (const name of PAGE_NAMESPACES)
      if (kubectl(["get", "namespace", name]).code === 0) await deleteNamespace(name);
  });

  it("NOT_RUN names only commands the pages have", () => {
    const lines = new Set(
      DOCS.flatMap((d) => shellBlocks(readFileSync(join(ROOT, d), "utf8")))
        .flatMap((b) => b.split("\n"))
        .map(commandOf),
    );
    for (const cmd of NOT_RUN.keys())
      assert.ok(lines.has(cmd), `"${cmd}" is in no page: take it out of NOT_RUN`);
  });

  /** A scratch directory of the page's own: two pages may both `updraft init hello`. */
  const pageDir = (doc: string) => {
    const dir = join(work, basename(doc, ".md"));
    mkdirSync(dir, { recursive: true });
    return dir;
  };
  /**
   * What a page takes as done before it: README.md's tour calls the examples make up
   * deploys to namespace demo — made here the same way (hack/up.sh) when it is missing,
   * and removed again after.
   */
  let madeDemo = false;
  const preconditions: Record<string, () => Promise<void>> = {
    "README.md": async () => {
      if (kubectl(["get", "namespace", "demo"]).code === 0) return;
      madeDemo = true;
      kubectl(["create", "namespace", "demo"]);
      kubectl(["label", "namespace", "demo", "pod-security.kubernetes.io/enforce=restricted", "--overwrite"]);
      const applied = kubectl(["-n", "demo", "apply", "-f", join(ROOT, "examples/")]);
      assert.equal(applied.code, 0, applied.stderr);
      const ready = kubectl([
        "-n",
        "demo",
        "wait",
        "--for=condition=Ready",
        "functions",
        "--all",
        "--timeout=120s",
      ]);
      assert.equal(ready.code, 0, ready.stderr);
    },
  };
  /** README.md's own function goes to a namespace of the reader's: here one made for it. */
  const pageNamespace: Record<string, string> = { "README.md": "readme-tour" };
  after(async () => {
    if (madeDemo) await deleteNamespace("demo");
  });
  for (const doc of DOCS) {
    it(`${doc}: every command runs and prints what the page says`, async () => {
      await preconditions[doc]?.();
      const own = pageNamespace[doc];
      if (own) {
        kubectl(["create", "namespace", own]);
        const set = await run(`kubectl config set-context --current --namespace=${own}`, env, work);
        assert.equal(set.code, 0, set.out);
      }
      const blocks = shellBlocks(readFileSync(join(ROOT, doc), "utf8"));
      assert.ok(blocks.length > 0, "no sh blocks");
      for (const [i, block] of blocks.entries()) {
        const lines = block.split("\n");
        const script = lines.filter((l) => !NOT_RUN.has(commandOf(l))).join("\n");
        const expects = lines.flatMap((l) => /^#\s*expect:\s*(.+)$/.exec(l.trim())?.[1] ?? []);
        if (!script.split("\n").some((l) => commandOf(l) !== "")) continue;
        const { code, out } = await run(script, env, FROM_CLONE.has(doc) ? ROOT : pageDir(doc));
        assert.equal(code, 0, `block ${i + 1} of ${doc} failed:\n${block}\n--- output ---\n${out}`);
        let from = 0;
        for (const e of expects) {
          const at = out.indexOf(e, from);
          assert.ok(at >= 0, `block ${i + 1} of ${doc}: "${e}" not in what it printed:\n${out}`);
          from = at + e.length;
        }
      }
    });
  }
});
