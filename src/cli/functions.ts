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
import { loadKubeConfig, namespaceOf } from "./transport.ts";
import { USAGE } from "./usage.ts";

function kube(): { kc: KubeConfig; custom: CustomObjectsApi } | undefined {
  const kc = loadKubeConfig();
  if (!kc) {
    console.error("updraft: no kubeconfig (KUBECONFIG or ~/.kube/config)");
    return undefined;
  }
  return { kc, custom: kc.makeApiClient(CustomObjectsApi) };
}

const status = (err: unknown) => (err as { code?: number }).code;

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

export async function describe(args: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args,
    allowPositionals: true,
    options: { namespace: { type: "string", short: "n" } },
  });
  const name = positionals[0];
  if (!name) {
    console.error(USAGE.describe);
    return 2;
  }
  const k = kube();
  if (!k) return 2;
  const namespace = namespaceOf(values.namespace, k.kc);
  let fn: UpdraftFunction;
  try {
    fn = (await k.custom.getNamespacedCustomObject({
      group: GROUP,
      version: VERSION,
      plural: FUNCTIONS,
      namespace,
      name,
    })) as UpdraftFunction;
  } catch (err) {
    if (status(err) === 404) {
      console.error(`updraft: no Function "${name}" in namespace ${namespace}`);
      return 1;
    }
    throw err;
  }
  const triggers = (await k.custom.listNamespacedCustomObject({
    group: GROUP,
    version: VERSION,
    plural: TRIGGERS,
    namespace,
  })) as { items: UpdraftTrigger[] };
  console.log(describeFunction(fn, triggers.items, new Date()));
  return 0;
}

export async function remove(args: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args,
    allowPositionals: true,
    options: { namespace: { type: "string", short: "n" } },
  });
  const name = positionals[0];
  if (!name) {
    console.error(USAGE.delete);
    return 2;
  }
  const k = kube();
  if (!k) return 2;
  const namespace = namespaceOf(values.namespace, k.kc);
  try {
    await k.custom.deleteNamespacedCustomObject({
      group: GROUP,
      version: VERSION,
      plural: FUNCTIONS,
      namespace,
      name,
    });
  } catch (err) {
    if (status(err) === 404) {
      console.error(`updraft: no Function "${name}" in namespace ${namespace}`);
      return 1;
    }
    throw err;
  }
  console.log(`function.updraft.dev/${name} deleted`);
  return 0;
}
