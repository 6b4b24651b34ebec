/**
 * Trigger reconcile, first part: a Trigger is Ready only when its Function exists in the
 * Trigger's own namespace (spec.function is a bare name, so another namespace cannot even
 * be named). An Http Trigger's status.url says where the activator serves it. The
 * adapters that make other triggers fire come in later issues.
 */
import {
  TriggerConditions as T,
  type TriggerStatus,
  type UpdraftFunction,
  type UpdraftTrigger,
} from "../api/v1alpha1.ts";
import { ConditionSet } from "../lib/conditions.ts";
import { deepCopy, semanticEqual } from "../lib/deep.ts";
import type { Cache } from "../lib/kube.ts";
import { splitKey } from "../lib/kube.ts";
import type { ControllerApi } from "./api.ts";
import { httpTriggerUrl } from "./builders.ts";
import type { EventRecorder } from "./events.ts";

export interface TriggerReconcilerDeps {
  triggers: Cache<UpdraftTrigger>;
  functions: Cache<UpdraftFunction>;
  api: Pick<ControllerApi, "replaceTriggerStatus">;
  events: EventRecorder;
  now: () => Date;
  /** The activator's base URL, for an Http Trigger's status.url. */
  activatorUrl: string;
}

export class TriggerReconciler {
  private readonly d: TriggerReconcilerDeps;

  constructor(d: TriggerReconcilerDeps) {
    this.d = d;
  }

  async reconcile(key: string): Promise<undefined> {
    const { namespace, name } = splitKey(key);
    const cached = this.d.triggers.get(name, namespace);
    if (!cached || cached.metadata.deletionTimestamp) return undefined;
    const trigger = deepCopy(cached);
    const conds = new ConditionSet(trigger.status?.conditions, trigger.metadata.generation, this.d.now);

    const fn = this.d.functions.get(trigger.spec.function, namespace);
    if (!fn || fn.metadata.deletionTimestamp) {
      conds.markFalse(
        T.FunctionFound,
        "FunctionNotFound",
        `Function ${trigger.spec.function} not found in namespace ${namespace}`,
      );
    } else {
      conds.markTrue(T.FunctionFound, "FunctionFound", `Function ${trigger.spec.function}`);
    }
    conds.summarize(T.Ready, [T.FunctionFound]);

    const status: TriggerStatus = {
      ...trigger.status,
      observedGeneration: trigger.metadata.generation,
      conditions: conds.list([T.Ready, T.FunctionFound]),
    };
    if (trigger.spec.type === "Http" && trigger.spec.http)
      status.url = httpTriggerUrl(namespace, trigger.spec.http.path, this.d.activatorUrl);
    if (!semanticEqual(status, trigger.status)) {
      trigger.status = status;
      await this.d.api.replaceTriggerStatus(trigger);
      for (const c of conds.changes) {
        if (c.type !== T.Ready || c.from === c.to) continue;
        this.d.events.record(trigger, c.to === "True" ? "Normal" : "Warning", c.reason, c.message);
      }
    }
    return undefined;
  }
}
