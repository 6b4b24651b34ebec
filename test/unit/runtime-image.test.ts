/**
 * The runtime images hold only part of the tree (each runtimes/Dockerfile.* copies some
 * folders of src/, and the shim's own packages): everything the shim's entry point loads at
 * run time must be in it, or every function pod fails at start with ERR_MODULE_NOT_FOUND.
 */
import assert from "node:assert/strict";
import { readdirSync, readFileSync } from "node:fs";
import { dirname, relative, resolve } from "node:path";
import { describe, it } from "node:test";

const ROOT = resolve(import.meta.dirname, "../..");

/** The modules a file loads at run time: `import type` and `export type` are erased. */
function runtimeImports(file: string): string[] {
  const text = readFileSync(file, "utf8");
  const specs: string[] = [];
  const re = /^\s*(?:import|export)\s+(type\s+)?(?:[\s\S]*?\s+from\s+)?"([^"]+)";/gm;
  for (const m of text.matchAll(re)) if (!m[1]) specs.push(m[2]!);
  for (const m of text.matchAll(/import\(\s*"([^"]+)"\s*\)/g)) specs.push(m[1]!);
  return specs;
}

const dockerfiles = readdirSync(resolve(ROOT, "runtimes")).filter((f) => f.startsWith("Dockerfile."));

describe("the runtime images", () => {
  for (const name of dockerfiles)
    it(`${name} holds every module the shim loads, from src/cmd/runtime/main.ts down`, () => {
      const dockerfile = readFileSync(resolve(ROOT, "runtimes", name), "utf8");
      const copied = [...dockerfile.matchAll(/^COPY\s+(src\/\S+)\s/gm)].map((m) => m[1]!);
      assert.ok(copied.length > 0, "the Dockerfile copies folders of src/");
      const packages = Object.keys(
        (
          JSON.parse(readFileSync(resolve(ROOT, "runtimes/shim/package.json"), "utf8")) as {
            dependencies: Record<string, string>;
          }
        ).dependencies,
      );
      const missing: string[] = [];
      const seen = new Set<string>();
      const visit = (file: string) => {
        if (seen.has(file)) return;
        seen.add(file);
        const rel = relative(ROOT, file);
        if (!copied.some((dir) => rel.startsWith(`${dir}/`))) missing.push(rel);
        for (const spec of runtimeImports(file)) {
          if (spec.startsWith("node:")) continue;
          if (spec.startsWith(".")) visit(resolve(dirname(file), spec));
          else if (!packages.includes(spec.split("/")[0]!)) missing.push(`${rel} → package ${spec}`);
        }
      };
      visit(resolve(ROOT, "src/cmd/runtime/main.ts"));
      assert.ok(seen.size > 5, "the walk found the shim's modules");
      assert.deepEqual(missing, [], "loaded by the shim but not in the runtime image");
    });
});
