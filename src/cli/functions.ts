/**
 * updraft list | describe <function> | delete <function>: Functions and their Triggers,
 * read and deleted through the kubeconfig's API server with its credential, as kubectl.
 */
import { parseArgs } from "node:util";
import { CustomObjectsApi, type KubeConfig } from "@kubernetes/client-node";
import {
  FUNCTIONS,
  GROUP,
  TRIGGERS,
  type UpdraftFunction,
  type UpdraftTrigger,
  VERSION,
} from "../api/v1alpha1.ts";
import { describeFunction, functionTable } from "./format.ts";
import { keptInvocations, namespaceOf, requireKubeConfig } from "./transport.ts";
import { requiredArgument } from "./usage.ts";

function kube(): { kc: KubeConfig; custom: CustomObjectsApi } | undefined {
  const kc = requireKubeConfig();
  if (!kc) return undefined;
  return { kc, custom: kc.makeApiClient(CustomObjectsApi) };
}

export async function list(args: string[]): Promise<number> {
  const { values } = parseArgs({
    args,
    options: {
      namespace: { type: "string", short: "n" },
      "all-namespaces": { type: "boolean", short: "A", default: false },
    },
  });
  const k = kube();
  if (!k) return 2;
  const all = values["all-namespaces"];
  const res = (
    all
      ? await k.custom.listClusterCustomObject({ group: GROUP, version: VERSION, plural: FUNCTIONS })
      : await k.custom.listNamespacedCustomObject({
          group: GROUP,
          version: VERSION,
          plural: FUNCTIONS,
          namespace: namespaceOf(values.namespace, k.kc),
        })
  ) as { items: UpdraftFunction[] };
  if (res.items.length === 0) {
    console.error(all ? "No Functions." : `No Functions in ${namespaceOf(values.namespace, k.kc)}.`);
    return 0;
  }
  console.log(functionTable(res.items, new Date(), all));
  return 0;
}

/** The one Function a command names, and its namespace; undefined once the reason is printed. */
function namedFunction(
  args: string[],
  command: "describe" | "delete",
): { kc: KubeConfig; custom: CustomObjectsApi; namespace: string; name: string } | undefined {
  const { values, positionals } = parseArgs({
    args,
    allowPositionals: true,
    options: { namespace: { type: "string", short: "n" } },
  });
  const name = requiredArgument(positionals, command);
  const k = name ? kube() : undefined;
  return k && name
    ? { kc: k.kc, custom: k.custom, namespace: namespaceOf(values.namespace, k.kc), name }
    : undefined;
}

/** A missing Function said plainly (exit 1); any other error is thrown on. */
function missing(err: unknown, name: string, namespace: string): number {
  if ((err as { code?: number }).code !== 404) throw err;
  console.error(`updraft: no Function "${name}" in namespace ${namespace}`);
  return 1;
}

export async function describe(args: string[]): Promise<number> {
  const target = namedFunction(args, "describe");
  if (!target) return 2;
  const { custom, namespace, name } = target;
  let fn: UpdraftFunction;
  try {
    fn = (await custom.getNamespacedCustomObject({
      group: GROUP,
      version: VERSION,
      plural: FUNCTIONS,
      namespace,
      name,
    })) as UpdraftFunction;
  } catch (err) {
    return missing(err, name, namespace);
  }
  const triggers = (await custom.listNamespacedCustomObject({
    group: GROUP,
    version: VERSION,
    plural: TRIGGERS,
    namespace,
  })) as { items: UpdraftTrigger[] };
  const recent = await keptInvocations(target.kc, namespace, name, { limit: 5 });
  console.log(describeFunction(fn, triggers.items, new Date(), recent));
  return 0;
}

export async function remove(args: string[]): Promise<number> {
  const target = namedFunction(args, "delete");
  if (!target) return 2;
  const { custom, namespace, name } = target;
  try {
    await custom.deleteNamespacedCustomObject({
      group: GROUP,
      version: VERSION,
      plural: FUNCTIONS,
      namespace,
      name,
    });
  } catch (err) {
    return missing(err, name, namespace);
  }
  console.log(`function.updraft.dev/${name} deleted`);
  return 0;
}
