/**
 * Packs the updraft CLI as an npm package of compiled JavaScript (Node.js strips types only
 * outside node_modules, so an installed package must not ship .ts): compiles
 * src/cmd/updraft/main.ts and what it imports with tsconfig.cli.json, writes a package.json
 * whose dependencies are exactly the packages the compiled files import (at the versions
 * the project pins), and runs `npm pack`. Prints the tarball's path.
 *
 *   node hack/cli-package.ts      # → .cache/updraft-cli-<version>.tgz
 *   npm install -g .cache/updraft-cli-<version>.tgz
 */
import { execFileSync } from "node:child_process";
import { copyFileSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const out = join(root, ".cache/cli-package");
const project = JSON.parse(readFileSync(join(root, "package.json"), "utf8")) as {
  version: string;
  license: string;
  dependencies: Record<string, string>;
};

rmSync(out, { recursive: true, force: true });
execFileSync(join(root, "node_modules/.bin/tsc"), ["-p", join(root, "tsconfig.cli.json")], {
  stdio: "inherit",
});

/** Bare imports of the compiled files, "node:" ones aside: @scope/name or name. */
const imported = new Set<string>();
for (const entry of readdirSync(join(out, "dist"), { recursive: true, withFileTypes: true })) {
  if (!entry.isFile() || !entry.name.endsWith(".js")) continue;
  const js = readFileSync(join(entry.parentPath, entry.name), "utf8");
  for (const m of js.matchAll(/\bfrom\s+"([^".][^"]*)"/g)) {
    const spec = m[1] as string;
    if (spec.startsWith("node:")) continue;
    const parts = spec.split("/");
    imported.add(spec.startsWith("@") ? parts.slice(0, 2).join("/") : (parts[0] as string));
  }
}
const dependencies: Record<string, string> = {};
for (const name of [...imported].sort()) {
  const version = project.dependencies[name];
  if (!version) throw new Error(`the CLI imports ${name}, which package.json does not depend on`);
  dependencies[name] = version;
}

writeFileSync(
  join(out, "package.json"),
  `${JSON.stringify(
    {
      name: "updraft-cli",
      version: project.version,
      description: "The updraft CLI: invoke, inspect and manage Updraft functions on Kubernetes",
      license: project.license,
      type: "module",
      bin: { updraft: "dist/cmd/updraft/main.js" },
      files: ["dist", "README.md"],
      engines: { node: ">=22" },
      dependencies,
    },
    null,
    2,
  )}\n`,
);
copyFileSync(join(root, "docs/cli.md"), join(out, "README.md"));
const tarball = execFileSync("npm", ["pack", "--pack-destination", join(root, ".cache"), "--silent"], {
  cwd: out,
  encoding: "utf8",
})
  .trim()
  .split("\n")
  .pop() as string;
console.log(join(root, ".cache", tarball));
