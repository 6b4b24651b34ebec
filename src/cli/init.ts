/**
 * updraft init <runtime> <name>: writes a function and its manifest (scaffold.ts) into a new
 * directory, never over a file that is there.
 */
import { existsSync, mkdirSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { parseArgs } from "node:util";
import { RUNTIMES } from "../api/v1alpha1.ts";
import { FUNCTION_NAME, isRuntime, scaffold } from "./scaffold.ts";
import { USAGE } from "./usage.ts";

export async function init(args: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args,
    allowPositionals: true,
    options: { dir: { type: "string" } },
  });
  const [runtime, name] = positionals;
  if (runtime === undefined || name === undefined) {
    console.error(USAGE.init);
    return 2;
  }
  if (!isRuntime(runtime)) {
    console.error(`updraft: unknown runtime "${runtime}"; one of ${RUNTIMES.join(", ")}`);
    return 2;
  }
  if (!FUNCTION_NAME.test(name)) {
    console.error(
      `updraft: "${name}" is not a Function name: lower-case letters, digits and "-", starting with a letter, at most 63`,
    );
    return 2;
  }
  const dir = values.dir ?? name;
  const { files, next } = scaffold(runtime, name);
  const taken = [...files.keys()].filter((f) => existsSync(join(dir, f)));
  if (taken.length > 0) {
    console.error(`updraft: ${taken.map((f) => join(dir, f)).join(", ")} already there; nothing written`);
    return 1;
  }
  for (const [path, text] of files) {
    const full = join(dir, path);
    mkdirSync(dirname(full), { recursive: true });
    writeFileSync(full, text, { mode: path === "bootstrap" ? 0o755 : 0o644 });
    console.log(`wrote ${full}`);
  }
  console.log(`\nNext:\n${next.map((l) => `  ${l}`).join("\n")}`);
  return 0;
}
