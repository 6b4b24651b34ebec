/**
 * SCF's own sample folders through `updraft deploy`: how many deploy as they are.
 *
 *   node bench/scf-samples.ts <folder of samples> [--deploy <namespace>]
 *
 * The folder is a checkout of SCF's sample repository (github.com/tencentyun/scf-demo-repo),
 * one sample per subfolder. Each is read as deploy reads it (function.yaml, serverless.yaml,
 * SCF's template config.json), with the runtime Updraft has for the sample's language as
 * --runtime (SCF's Nodejs8.9 or Python3.6 are not runtimes Updraft runs), and sorted:
 * deployable as it is, deployable with the template's handler in place of serverless.yaml's,
 * or refused (with the reason). With --deploy, each deployable one is then deployed into the
 * namespace of the kubeconfig's cluster and waited for (Function and Triggers Ready).
 * Prints JSON: the counts, and each refusal or failed deploy with its reason.
 */
import { readdirSync, statSync } from "node:fs";
import { join } from "node:path";
import { baseFunction, deploy } from "../src/cli/deploy.ts";

/** The runtime Updraft has for a sample's language, by the folder's name (SCF's convention). */
function runtimeFor(folder: string): string | undefined {
  if (/^node/i.test(folder)) return "nodejs24";
  if (/^python/i.test(folder)) return "python3.11";
  if (/^php/i.test(folder)) return "php8.2";
  if (/^java/i.test(folder)) return "java17";
  return undefined; // Go1, CustomRuntime: the files say
}

/** A Function name from the folder's: "Python3.6-API_Service" → "s-python3-6-api-service". */
const nameOf = (folder: string) =>
  `s-${folder.toLowerCase().replace(/[^a-z0-9]+/g, "-")}`.slice(0, 50).replace(/-+$/, "");

async function main(): Promise<void> {
  const root = process.argv[2];
  const deployIndex = process.argv.indexOf("--deploy");
  const namespace = deployIndex > 0 ? process.argv[deployIndex + 1] : undefined;
  if (!root || (deployIndex > 0 && !namespace))
    throw new Error("usage: node bench/scf-samples.ts <folder of samples> [--deploy <namespace>]");
  const folders = readdirSync(root)
    .filter((f) => !f.startsWith(".") && statSync(join(root, f)).isDirectory())
    .sort();
  const counts = { samples: folders.length, asTheyAre: 0, withTemplateHandler: 0, refused: 0 };
  const refused: Record<string, string> = {};
  const deployable: Array<{ folder: string; runtime: string | undefined }> = [];
  for (const folder of folders) {
    const notes: string[] = [];
    const runtime = runtimeFor(folder);
    const base = baseFunction(join(root, folder), { runtime, name: nameOf(folder) }, (l) => notes.push(l));
    if (typeof base === "string") {
      counts.refused++;
      refused[folder] = base;
      continue;
    }
    if (notes.some((n) => n.includes("config.json (SCF's template) names"))) counts.withTemplateHandler++;
    else counts.asTheyAre++;
    deployable.push({ folder, runtime });
  }
  const deployed = { tried: 0, ready: 0 };
  const failed: Record<string, number> = {};
  if (namespace) {
    for (const { folder, runtime } of deployable) {
      deployed.tried++;
      const args = [join(root, folder), "-n", namespace, "--name", nameOf(folder), "--wait", "90s"];
      if (runtime) args.push("--runtime", runtime);
      const code = await deploy(args);
      if (code === 0) deployed.ready++;
      else failed[folder] = code;
    }
  }
  console.log(JSON.stringify({ counts, refused, ...(namespace ? { deployed, failed } : {}) }, null, 2));
}

main().then(
  () => process.exit(0),
  (err: unknown) => {
    console.error(err);
    process.exit(1);
  },
);
