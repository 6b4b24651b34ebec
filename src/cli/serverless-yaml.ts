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
 *   inputs.region      → spec.tencentCloud.region (TENCENTCLOUD_REGION); a role is said not
 *                        applied, with where its keys go (spec.tencentCloud.credentialsSecret)
 *   inputs.src         → the code's folder inside the one deployed (deploy takes the folder
 *                        itself when src is not there: some of SCF's samples say ./src)
 *   inputs.events: timer → a Timer Trigger (cronExpression, argument → message, enable)
 *                  apigw → an Http Trigger per endpoint (path, method,
 *                          function.isIntegratedResponse)
 *
 * Everything else (other events — cos, ckafka, cmq name SCF's own services —, vpcConfig,
 * layers, region, namespace …) is not applied, and deploy says which it left: those
 * triggers are Trigger objects of their own here (docs/guide-triggers.md), the namespace is
 * the Kubernetes one.
 */
import yaml from "js-yaml";
import {
  API_VERSION,
  RUNTIMES,
  type Runtime,
  type UpdraftFunction,
  type UpdraftTrigger,
} from "../api/v1alpha1.ts";
import { HTTP_TRIGGER_PATH } from "../protocol/http.ts";

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
  // Timer and API gateway events become Triggers; the others are named in a note.
  "events",
  // The function's region, what it reads in TENCENTCLOUD_REGION (spec.tencentCloud.region).
  "region",
  // Said in a note of its own: where a role's keys go instead.
  "role",
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
  /**
   * The Triggers its timer and API gateway events make for the Function once it is named
   * (a --name may rename it); deploy applies them with it.
   */
  triggersFor: (fnName: string) => UpdraftTrigger[] | string;
  /** What the reader should know: inputs left out. */
  notes: string[];
  /** Where the code is, relative to the file's folder, as the file says (./src); absent: the folder. */
  src?: string;
}

/** The methods an Http Trigger serves (the CRD's enum). */
const HTTP_METHODS = new Set(["ANY", "GET", "POST", "PUT", "DELETE", "PATCH", "HEAD", "OPTIONS"]);

/** A Kubernetes object name from SCF's: "serverless_days_Demo" → "serverless-days-demo". */
function objectName(...parts: string[]): string {
  return parts
    .join("-")
    .toLowerCase()
    .replace(/[^a-z0-9-]+/g, "-")
    .replace(/-+/g, "-")
    .slice(0, 63)
    .replace(/^-+|-+$/g, "");
}

/** SCF's YAML writes booleans as TRUE, True, "true" …: a boolean, or undefined when absent. */
function flag(v: unknown): boolean | undefined {
  if (v === undefined || v === null) return undefined;
  return v === true || String(v).toLowerCase() === "true";
}

/**
 * The Triggers of serverless.yaml's events, for the Function `fnName`, or why one cannot be
 * made. Example: [{timer: {name: timer, parameters: {cronExpression: "0 *\/5 * * * * *",
 * argument: go}}}, {apigw: {name: serverless, parameters: {endpoints: [{path: /, method:
 * GET, function: {isIntegratedResponse: TRUE}}]}}}] for f → Timer f-timer (message "go")
 * and Http f-serverless on / (GET, integrated response); a cos event is a note.
 */
function eventTriggers(events: unknown, file: string): { drafts: TriggerDraft[]; notes: string[] } | string {
  if (events === undefined || events === null) return { drafts: [], notes: [] };
  if (!Array.isArray(events)) return `${file}'s events must be a list`;
  const drafts: TriggerDraft[] = [];
  const left = new Set<string>();
  const otherEvents = new Map<string, number>();
  const trigger = (nameParts: string[], spec: TriggerDraft["spec"]) => drafts.push({ nameParts, spec });
  for (const [i, event] of events.entries()) {
    const [type, body] = Object.entries((event ?? {}) as Record<string, unknown>)[0] ?? [];
    const b = (body ?? {}) as { name?: unknown; parameters?: Record<string, unknown> | null };
    const params = b.parameters ?? {};
    const eventName = String(b.name ?? params.name ?? params.serviceName ?? `${type}-${i + 1}`);
    if (type === "timer") {
      const cron = params.cronExpression;
      if (typeof cron !== "string") return `${file}'s timer ${eventName} has no cronExpression`;
      trigger([eventName], {
        type: "Timer",
        ...(flag(params.enable) === false ? { enabled: false } : {}),
        timer: {
          cronExpression: cron,
          ...(params.argument !== undefined && params.argument !== null
            ? { message: String(params.argument) }
            : {}),
        },
      });
    } else if (type === "apigw") {
      const endpoints = params.endpoints;
      if (!Array.isArray(endpoints) || endpoints.length === 0) {
        left.add(`apigw ${eventName} (no endpoints: no path to serve)`);
        continue;
      }
      for (const [j, endpoint] of endpoints.entries()) {
        const e = (endpoint ?? {}) as {
          path?: unknown;
          method?: unknown;
          function?: { isIntegratedResponse?: unknown };
        };
        const path = String(e.path ?? "");
        if (!HTTP_TRIGGER_PATH.test(path))
          return `${file}'s apigw ${eventName} has the path ${JSON.stringify(e.path)}, which is not a path Updraft serves (/a/{b})`;
        const method = String(e.method ?? "ANY").toUpperCase();
        if (!HTTP_METHODS.has(method)) return `${file}'s apigw ${eventName} has the method ${method}`;
        trigger(endpoints.length > 1 ? [eventName, String(j + 1)] : [eventName], {
          type: "Http",
          http: {
            path,
            methods: [method],
            ...(flag(e.function?.isIntegratedResponse) ? { integratedResponse: true } : {}),
          },
        });
        for (const k of Object.keys(e))
          if (!["path", "method", "function"].includes(k)) left.add(`apigw's ${k}`);
      }
    } else {
      // "cos event", "2 ckafka events": one item per kind, counted.
      const kind = type ?? "empty";
      otherEvents.set(kind, (otherEvents.get(kind) ?? 0) + 1);
    }
  }
  for (const [kind, n] of otherEvents) left.add(n === 1 ? `${kind} event` : `${n} ${kind} events`);
  const plural = left.size > 1 || [...left].some((item) => / events$/.test(item));
  return {
    drafts,
    notes: left.size ? [`${file}'s ${[...left].join(", ")} ${plural ? "are" : "is"} not applied`] : [],
  };
}

/** A Trigger an event makes, before the Function's name (which prefixes its own) is final. */
interface TriggerDraft {
  /** What follows the Function's name in the Trigger's: the event's name (and endpoint). */
  nameParts: string[];
  spec: Omit<UpdraftTrigger["spec"], "function">;
}

/**
 * The events' Triggers for the Function named fnName, or why they cannot be: two of one name.
 * Names are cut to 63 characters, so a long Function name can make two alike that a short
 * one does not — checked for the final name. Example: fn "f", timers "t" and "t" → "two
 * Triggers named f-t".
 */
function namedTriggers(drafts: TriggerDraft[], fnName: string, file: string): UpdraftTrigger[] | string {
  const triggers = drafts.map(
    (d): UpdraftTrigger => ({
      apiVersion: API_VERSION,
      kind: "Trigger",
      metadata: { name: objectName(fnName, ...d.nameParts) },
      spec: { function: fnName, ...d.spec },
    }),
  );
  const names = triggers.map((t) => t.metadata.name);
  const twice = names.find((n, k) => names.indexOf(n) !== k);
  if (twice) return `${file}'s events make two Triggers named ${twice}: give the events different names`;
  return triggers;
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
  return fromScfInputs(inputs, "serverless.yaml", runtimeFlag);
}

/**
 * The Function that SCF's inputs (serverless.yaml's `inputs`, or a template's functions
 * read into the same shape: scf-template.ts) describe, or why they cannot be one; `file`
 * names where they came from in what deploy says.
 */
export function fromScfInputs(
  inputs: Record<string, unknown>,
  file: string,
  runtimeFlag?: string,
): FromServerlessYaml | string {
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
      ? `${file}'s runtime ${scfRuntime} is not one Updraft runs (${RUNTIMES.join(", ")}): give --runtime${suggestion ? `, e.g. --runtime ${suggestion}` : ""}`
      : `${file} names no runtime: give --runtime`;
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
      return `${file}'s ${key} must be a whole number, not ${JSON.stringify(v)}`;
    fn.spec[field] = v;
  }
  const variables = (inputs.environment as { variables?: unknown } | undefined)?.variables;
  if (variables !== undefined && variables !== null) {
    if (typeof variables !== "object" || Array.isArray(variables))
      return `${file}'s environment.variables must be a map of names to values`;
    fn.spec.env = Object.entries(variables as Record<string, unknown>).map(([name, value]) => ({
      name,
      value: String(value ?? ""),
    }));
  }
  // SCF's functions read their region from TENCENTCLOUD_REGION; the schema says whether it
  // is one (a commented-out `region: #ap-shanghai` reads as null and is left out).
  if (typeof inputs.region === "string" && inputs.region !== "")
    fn.spec.tencentCloud = { region: inputs.region };
  // The code is the folder src names, inside the one being deployed (deploy looks whether it
  // is there); one outside it is not part of what was given.
  const srcValue =
    typeof inputs.src === "object" && inputs.src !== null
      ? (inputs.src as { src?: unknown }).src
      : inputs.src;
  const src = srcValue === undefined || srcValue === null ? undefined : String(srcValue);
  if (src !== undefined && (src.startsWith("/") || src.split("/").includes("..")))
    return `${file}'s src is ${src}, outside the folder being deployed: deploy the folder that holds the code (with --runtime, --name and --handler)`;
  if (fn.spec.runtime === "custom" && fn.spec.type !== "Web") fn.spec.handler ??= "index.main_handler";
  // Read now, named once the Function's name is final (a --name renames them).
  const events = eventTriggers(inputs.events, file);
  if (typeof events === "string") return events;
  const triggersFor = (name: string) => namedTriggers(events.drafts, name, file);
  const asNamed = triggersFor(fn.metadata.name ?? "f");
  if (typeof asNamed === "string") return asNamed;
  const left = Object.keys(inputs).filter((k) => !USED_INPUTS.has(k));
  if (typeof inputs.src === "object" && inputs.src !== null && "exclude" in inputs.src)
    left.push("src.exclude");
  const notes = left.length
    ? [`${file}'s ${left.join(", ")} ${left.length === 1 ? "is" : "are"} not applied`]
    : [];
  if (inputs.role !== undefined && inputs.role !== null)
    notes.push(
      `${file}'s role ${String(inputs.role)} is not applied: a cluster has no Tencent Cloud roles; put the keys the function needs in a Secret (secretId, secretKey) and deploy with --credentials-secret <its name> (spec.tencentCloud.credentialsSecret), which gives them as TENCENTCLOUD_SECRETID and TENCENTCLOUD_SECRETKEY`,
    );
  notes.push(...events.notes);
  if (notes.length) notes.push("(other triggers are Trigger objects of their own: docs/guide-triggers.md)");
  return { fn, triggersFor, notes, ...(src !== undefined ? { src } : {}) };
}
