/**
 * Applies a multi-document manifest except its Deployments (kubectl on PATH): used while
 * the local cluster runs Updraft's components as host processes rather than pods.
 * Usage: node hack/apply-manifests.ts deploy/updraft.yaml
 */
import { spawnSync } from "node:child_process";
import { readFileSync } from "node:fs";
import yaml from "js-yaml";

const file = process.argv[2];
if (!file) {
  console.error("usage: apply-manifests.ts <file>");
  process.exit(2);
}
const docs = (yaml.loadAll(readFileSync(file, "utf8")) as Array<{ kind?: string } | null>).filter(
  (d) => d && d.kind !== "Deployment",
);
const input = docs.map((d) => yaml.dump(d)).join("---\n");
const r = spawnSync("kubectl", ["apply", "--server-side", "--force-conflicts", "-f", "-"], {
  input,
  stdio: ["pipe", "inherit", "inherit"],
});
process.exit(r.status ?? 1);
