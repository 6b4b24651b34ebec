/**
 * SCF's Serverless Framework file: a function folder made for SCF — SCF's own samples among
 * them — carries a serverless.yaml of `component: scf` whose `inputs` say what the Function
 * is. `updraft deploy` reads it when the folder has no function.yaml, so such a folder
 * deploys as it is:
 *
 *   inputs.name        → metadata.name, lower-cased, "_" → "-" (API_GW_Demo → api-gw-demo)
 *   inputs.handler     → spec.handler
 *   inputs.runtime     → spec.runtime when Updraft runs that runtime (CustomRuntime, Go1,
 *                        Python3.11 …); any other (Nodejs12.16) needs --runtime, and the
 *                        refusal names the runtime of that language Updraft has
 *   inputs.type: web   → spec.type Web (started by scf_bootstrap, no handler)
 *   inputs.memorySize, timeout, initTimeout → memoryMB, timeoutSeconds, initTimeoutSeconds
 *   inputs.environment.variables → spec.env
 *
 * Everything else (events, vpcConfig, layers, region, namespace …) is not applied, and
 * deploy says which keys it left: triggers are Trigger objects here (docs/guide-triggers.md),
 * the namespace is the Kubernetes one.
 */
import yaml from "js-yaml";
import { API_VERSION, RUNTIMES, type Runtime, type UpdraftFunction } from "../api/v1alpha1.ts";

/** Inputs read into the Function; the rest are reported as left out. */
const USED_INPUTS = new Set([
  "name",
  "handler",
  "runtime",
  "type",
  "memorySize",
  "timeout",
  "initTimeout",
  "environment",
  // The code folder is the one being deployed; a description has nowhere to go.
  "src",
  "description",
]);

/** The runtime Updraft has for an SCF runtime's language, to suggest. */
const NEWEST_OF_LANGUAGE: Array<[RegExp, Runtime]> = [
  [/^nodejs/i, "nodejs24"],
  [/^python/i, "python3.11"],
  [/^php/i, "php8.2"],
  [/^java/i, "java17"],
  [/^go/i, "go1"],
];

/** SCF's runtime name as Updraft's, when Updraft runs it: CustomRuntime → custom, Go1 → go1. */
export function updraftRuntime(scfRuntime: string): Runtime | undefined {
  const lower = scfRuntime.toLowerCase();
  if (lower === "customruntime") return "custom";
  return (RUNTIMES as readonly string[]).includes(lower) ? (lower as Runtime) : undefined;
}

export interface FromServerlessYaml {
  fn: UpdraftFunction;
  /** What the reader should know: inputs left out. */
  notes: string[];
}

/**
 * The Function a serverless.yaml describes (its code is the caller's to fill), or why it
 * cannot be one. `runtimeFlag` (--runtime) stands in for a runtime Updraft does not run.
 * Example: inputs {name: API_GW_Demo, runtime: Nodejs12.16, handler: index.main_handler,
 * memorySize: 128, timeout: 3, events: [...]} with --runtime nodejs24 → api-gw-demo on
 * nodejs24, 128 MB, 3 s, and a note that `events` was left out.
 */
export function fromServerlessYaml(text: string, runtimeFlag?: string): FromServerlessYaml | string {
  let doc: unknown;
  try {
    doc = yaml.load(text);
  } catch (err) {
    return `serverless.yaml is not YAML: ${(err as Error).message.split("\n")[0]}`;
  }
  const d = (doc ?? {}) as { component?: unknown; inputs?: unknown };
  if (d.component !== "scf" || typeof d.inputs !== "object" || d.inputs === null)
    return "serverless.yaml is not SCF's (component: scf, with inputs)";
  const inputs = d.inputs as Record<string, unknown>;
  // Serverless Framework variables (${env:KEY}, ${output:…}) are resolved by its own CLI;
  // taken as they are they would be a literal name or value.
  const variable = JSON.stringify(inputs).match(/\$\{[^}]*\}/)?.[0];
  if (variable)
    return `serverless.yaml uses the Serverless Framework variable ${variable}, which Updraft does not resolve: write the value, or give it by flag`;
  const fn = {
    apiVersion: API_VERSION,
    kind: "Function",
    metadata: {},
    spec: { code: {} },
  } as UpdraftFunction;
  if (typeof inputs.name === "string") fn.metadata.name = inputs.name.toLowerCase().replaceAll("_", "-");
  const scfRuntime = typeof inputs.runtime === "string" ? inputs.runtime : undefined;
  const runtime = runtimeFlag ?? (scfRuntime ? updraftRuntime(scfRuntime) : undefined);
  if (!runtime) {
    const suggestion = NEWEST_OF_LANGUAGE.find(([re]) => re.test(scfRuntime ?? ""))?.[1];
    return scfRuntime
      ? `serverless.yaml's runtime ${scfRuntime} is not one Updraft runs (${RUNTIMES.join(", ")}): give --runtime${suggestion ? `, e.g. --runtime ${suggestion}` : ""}`
      : "serverless.yaml names no runtime: give --runtime";
  }
  fn.spec.runtime = runtime as Runtime;
  if (String(inputs.type ?? "").toLowerCase() === "web") fn.spec.type = "Web";
  else if (typeof inputs.handler === "string") fn.spec.handler = inputs.handler;
  const numbers: Array<[string, "memoryMB" | "timeoutSeconds" | "initTimeoutSeconds"]> = [
    ["memorySize", "memoryMB"],
    ["timeout", "timeoutSeconds"],
    ["initTimeout", "initTimeoutSeconds"],
  ];
  for (const [key, field] of numbers) {
    const v = inputs[key];
    if (v === undefined) continue;
    if (typeof v !== "number" || !Number.isInteger(v))
      return `serverless.yaml's ${key} must be a whole number, not ${JSON.stringify(v)}`;
    fn.spec[field] = v;
  }
  const variables = (inputs.environment as { variables?: unknown } | undefined)?.variables;
  if (variables !== undefined && variables !== null) {
    if (typeof variables !== "object" || Array.isArray(variables))
      return "serverless.yaml's environment.variables must be a map of names to values";
    fn.spec.env = Object.entries(variables as Record<string, unknown>).map(([name, value]) => ({
      name,
      value: String(value ?? ""),
    }));
  }
  // The code is the folder being deployed: a src elsewhere (./src) would put the handler
  // one folder down, and every call would be 437.
  const src =
    typeof inputs.src === "object" && inputs.src !== null
      ? (inputs.src as { src?: unknown }).src
      : inputs.src;
  if (src !== undefined && !["./", ".", "./."].includes(String(src)))
    return `serverless.yaml's src is ${String(src)}: Updraft deploys the folder it is given; deploy that folder (with --runtime, --name and --handler), or move serverless.yaml into it`;
  if (fn.spec.runtime === "custom" && fn.spec.type !== "Web") fn.spec.handler ??= "index.main_handler";
  const left = Object.keys(inputs).filter((k) => !USED_INPUTS.has(k));
  if (typeof inputs.src === "object" && inputs.src !== null && "exclude" in inputs.src)
    left.push("src.exclude");
  const notes = left.length
    ? [
        `serverless.yaml's ${left.join(", ")} ${left.length === 1 ? "is" : "are"} not applied (triggers are Trigger objects: docs/guide-triggers.md)`,
      ]
    : [];
  return { fn, notes };
}
