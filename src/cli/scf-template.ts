/**
 * SCF's application template: the config.json beside a function in SCF's sample folders
 * (what the console's "create from template" reads). It is JSON with comments, and its
 * `serverless-cloud-function-application.functions` says what the function is:
 *
 *   name, handler, runtime, memorySize, timeout → as serverless.yaml's inputs of the same name
 *   Environment {KEY: value}                    → spec.env
 *   Events {Type: Timer, Properties: {CronExpression, Enable}}
 *                                               → a Timer Trigger `<function>-timer`
 *   Events {Type: TencentCloud::Serverless::Api, Properties: {Path, HttpMethod}}
 *                                               → an Http Trigger `<function>-api`, with
 *                                                 integrated response (what a trigger made
 *                                                 from SCF's console has)
 *   other events (COS, Ckafka, CMQ, CLS), VpcConfig → named as not applied
 *
 * `updraft deploy` reads it when a folder has neither function.yaml nor serverless.yaml; and
 * when serverless.yaml's handler names a file the folder does not have — 33 of SCF's 130
 * samples carry a serverless.yaml whose handler was never renamed with the code
 * (apigw.main_handler beside index.php) — the template's handler, if its file is there.
 */
import JSON5 from "json5";
import { type FromServerlessYaml, fromScfInputs } from "./serverless-yaml.ts";

const TEMPLATE_KEY = "serverless-cloud-function-application";

/** The template's `functions`: what SCF's console reads a function from. */
export interface TemplateFunction {
  name?: unknown;
  handler?: unknown;
  runtime?: unknown;
  memorySize?: unknown;
  timeout?: unknown;
  description?: unknown;
  Environment?: unknown;
  Events?: unknown;
  VpcConfig?: unknown;
  codeObject?: unknown;
}

/**
 * The template's function, or why the text is not SCF's template (a config.json of another
 * tool is not read). Parsed once by deploy: its handler may stand in for serverless.yaml's.
 */
export function readScfTemplate(text: string): TemplateFunction | string {
  let doc: unknown;
  try {
    doc = JSON5.parse(text);
  } catch (err) {
    return `config.json is not JSON: ${(err as Error).message}`;
  }
  const fn = (doc as Record<string, { functions?: unknown } | undefined> | null)?.[TEMPLATE_KEY]?.functions;
  if (typeof fn !== "object" || fn === null || Array.isArray(fn))
    return `config.json is not SCF's application template (${TEMPLATE_KEY}.functions)`;
  return fn as TemplateFunction;
}

/**
 * The template's events in serverless.yaml's shape, so one reader makes their Triggers.
 * Example: {Type: Timer, Properties: {CronExpression: "0 *\/5 * * * * *", Enable: "false"}} →
 * [{timer: {name: timer, parameters: {cronExpression: "0 *\/5 * * * * *", enable: "false"}}}].
 */
function events(value: unknown): unknown[] {
  const list = Array.isArray(value) ? value : value && typeof value === "object" ? [value] : [];
  const out: unknown[] = [];
  for (const e of list as Array<{ Type?: unknown; Properties?: Record<string, unknown> } | null>) {
    const type = typeof e?.Type === "string" ? e.Type : undefined;
    if (!type) continue; // {}: no event
    const p = e?.Properties ?? {};
    if (type === "Timer")
      out.push({
        timer: {
          name: "timer",
          parameters: { cronExpression: p.CronExpression, enable: p.Enable, argument: p.Argument },
        },
      });
    else if (type === "TencentCloud::Serverless::Api" || type === "APIGW")
      out.push({
        apigw: {
          name: "api",
          parameters: {
            endpoints: [
              { path: p.Path, method: p.HttpMethod ?? "ANY", function: { isIntegratedResponse: true } },
            ],
          },
        },
      });
    else out.push({ [type.replace(/^TencentCloud::Serverless::/, "")]: {} });
  }
  return out;
}

/**
 * The Function SCF's template describes (its code is the caller's to fill), or why it
 * cannot be one. Example: functions {name: "hello_world", handler: "index.main_handler",
 * runtime: "Nodejs8.9", memorySize: 128, timeout: 3} with --runtime nodejs24 → hello-world
 * on nodejs24, 128 MB, 3 s.
 */
export function fromScfTemplate(fn: TemplateFunction, runtimeFlag?: string): FromServerlessYaml | string {
  const env = fn.Environment;
  // {} is no variables; anything else is read (and refused there if it is not a map).
  const noEnv =
    env === undefined || (typeof env === "object" && env !== null && Object.keys(env).length === 0);
  const vpc = fn.VpcConfig;
  const inputs: Record<string, unknown> = {
    ...(fn.name !== undefined ? { name: fn.name } : {}),
    ...(fn.handler !== undefined ? { handler: fn.handler } : {}),
    ...(fn.runtime !== undefined ? { runtime: fn.runtime } : {}),
    ...(fn.memorySize !== undefined ? { memorySize: fn.memorySize } : {}),
    ...(fn.timeout !== undefined ? { timeout: fn.timeout } : {}),
    ...(fn.description !== undefined ? { description: fn.description } : {}),
    ...(noEnv ? {} : { environment: { variables: env } }),
    events: events(fn.Events),
    // An empty VpcConfig is no setting; one with a VPC in it has nowhere to go here.
    ...(vpc && typeof vpc === "object" && Object.keys(vpc).length ? { vpcConfig: vpc } : {}),
  };
  // codeObject is where the template's code is downloaded from: here the code is the folder.
  return fromScfInputs(inputs, "config.json", runtimeFlag);
}
