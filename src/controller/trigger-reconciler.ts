/**
 * Trigger reconcile. Phases:
 *  1. FunctionFound: the Function exists in the Trigger's own namespace (spec.function is
 *     a bare name, so another namespace cannot even be named).
 *  2. The adapter (every type but Http, which the activator serves): while the Trigger is
 *     enabled and its Function exists, its Deployment (and, for push types, its Service)
 *     exist as makeAdapterDeployment says, with the namespace's adapter identity; otherwise
 *     they are deleted — a disabled Trigger, or one whose Function went, fires nothing.
 *     AdapterReady follows the Deployment's availability.
 *  3. Ready summarises FunctionFound, AdapterReady and SourceReady (which the adapter
 *     writes: can it reach its broker or bucket). A stopped adapter's SourceReady is reset
 *     to Unknown so a stale True never outlives it.
 * Status is written once, only when it changed; counts written by the adapter are kept.
 */
import type { V1Deployment, V1Service } from "@kubernetes/client-node";
import {
  Annotations,
  TriggerConditions as T,
  type TriggerStatus,
  triggerReadyDependents,
  type UpdraftFunction,
  type UpdraftTrigger,
} from "../api/v1alpha1.ts";
import { ConditionSet } from "../lib/conditions.ts";
import { deepCopy, semanticEqual } from "../lib/deep.ts";
import type { EventRecorder } from "../lib/events.ts";
import type { Cache } from "../lib/kube.ts";
import { splitKey } from "../lib/kube.ts";
import { repeatedPathParameters } from "../protocol/http.ts";
import { adapterName } from "../protocol/triggers.ts";
import {
  type AdapterBuilderConfig,
  adapterSpecHash,
  isPush,
  makeAdapterDeployment,
  makeAdapterRoleBinding,
  makeAdapterService,
  makeAdapterServiceAccount,
} from "./adapter-builders.ts";
import type { ControllerApi } from "./api.ts";
import { type HttpUrlConfig, httpTriggerUrl } from "./builders.ts";

export interface TriggerReconcilerDeps {
  triggers: Cache<UpdraftTrigger>;
  functions: Cache<UpdraftFunction>;
  adapterDeployments: Cache<V1Deployment>;
  adapterServices: Cache<V1Service>;
  api: Pick<
    ControllerApi,
    | "replaceTriggerStatus"
    | "createDeployment"
    | "replaceDeployment"
    | "deleteDeployment"
    | "createService"
    | "deleteService"
    | "ensureServiceAccount"
    | "ensureRoleBinding"
  >;
  events: EventRecorder;
  now: () => Date;
  /** Where Http Triggers are served, for their status.url. */
  httpUrl: HttpUrlConfig;
  adapter: AdapterBuilderConfig;
}

export class TriggerReconciler {
  private readonly d: TriggerReconcilerDeps;
  /** Namespaces whose adapter ServiceAccount and RoleBinding are known to exist. */
  private readonly identities = new Set<string>();

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
    const fnFound = fn !== undefined && !fn.metadata.deletionTimestamp;
    if (!fnFound) {
      conds.markFalse(
        T.FunctionFound,
        "FunctionNotFound",
        `Function ${trigger.spec.function} not found in namespace ${namespace}`,
      );
    } else {
      conds.markTrue(T.FunctionFound, "FunctionFound", `Function ${trigger.spec.function}`);
    }

    if (trigger.spec.type !== "Http") await this.reconcileAdapter(trigger, fnFound ? fn : undefined, conds);
    const dependents = triggerReadyDependents(trigger.spec.type);
    conds.summarize(T.Ready, dependents);
    if (trigger.spec.enabled === false && trigger.spec.type !== "Http")
      conds.markFalse(T.Ready, "Disabled", "spec.enabled is false: the adapter is stopped and nothing fires");
    // The CRD cannot refuse a path that repeats a parameter (a CEL rule comparing segments
    // costs more than the apiserver's budget), so it is refused here, and the activator
    // does not serve it.
    const repeated =
      trigger.spec.type === "Http" ? repeatedPathParameters(trigger.spec.http?.path ?? "") : [];
    if (repeated.length > 0)
      conds.markFalse(
        T.Ready,
        "PathParameterRepeated",
        `spec.http.path names ${repeated.map((n) => `{${n}}`).join(", ")} more than once: pathParameters could hold only one value, so the path is not served`,
      );

    const status: TriggerStatus = {
      ...trigger.status,
      observedGeneration: trigger.metadata.generation,
      conditions: conds.list([T.Ready, ...dependents]),
    };
    delete status.url;
    if (trigger.spec.type === "Http" && trigger.spec.http && repeated.length === 0)
      status.url = httpTriggerUrl(namespace, trigger.spec.http.path, this.d.httpUrl);
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

  private async reconcileAdapter(
    t: UpdraftTrigger,
    fn: UpdraftFunction | undefined,
    conds: ConditionSet,
  ): Promise<void> {
    const namespace = t.metadata.namespace!;
    const name = adapterName(t.metadata.name!);
    const existing = this.d.adapterDeployments.get(name, namespace);
    const service = this.d.adapterServices.get(name, namespace);
    const run = fn !== undefined && t.spec.enabled !== false;
    if (!run) {
      if (existing) await this.d.api.deleteDeployment(namespace, name);
      if (service) await this.d.api.deleteService(namespace, name);
      const why = fn ? "the Trigger is disabled" : "its Function does not exist";
      conds.markFalse(T.AdapterReady, "AdapterStopped", `no adapter runs: ${why}`);
      conds.markUnknown(T.SourceReady, "AdapterStopped", `no adapter runs: ${why}`);
      return;
    }
    if (!this.identities.has(namespace)) {
      await this.d.api.ensureServiceAccount(makeAdapterServiceAccount(namespace));
      await this.d.api.ensureRoleBinding(
        makeAdapterRoleBinding(namespace, this.d.adapter.adapterClusterRole),
      );
      this.identities.add(namespace);
    }
    const want = makeAdapterDeployment(t, fn, this.d.adapter);
    const hash = adapterSpecHash(want);
    want.metadata!.annotations = { [Annotations.specHash]: hash };
    let current = existing;
    if (!existing) {
      current = await this.d.api.createDeployment(want);
    } else if (existing.metadata?.annotations?.[Annotations.specHash] !== hash) {
      const next = deepCopy(existing);
      next.metadata!.labels = want.metadata!.labels;
      next.metadata!.annotations = { ...next.metadata!.annotations, [Annotations.specHash]: hash };
      next.spec = want.spec;
      current = await this.d.api.replaceDeployment(next);
    }
    if (isPush(t) && !service) await this.d.api.createService(makeAdapterService(t));
    if (!isPush(t) && service) await this.d.api.deleteService(namespace, name);

    const available = current?.status?.conditions?.find((c) => c.type === "Available");
    const observed = (current?.status?.observedGeneration ?? 0) >= (current?.metadata?.generation ?? 0);
    if (available?.status === "True" && observed && (current?.status?.availableReplicas ?? 0) > 0) {
      conds.markTrue(T.AdapterReady, "AdapterAvailable", `Deployment ${name} is available`);
    } else {
      conds.markFalse(
        T.AdapterReady,
        "AdapterStarting",
        available?.message
          ? `Deployment ${name}: ${available.message}`
          : `Deployment ${name} is not available yet`,
      );
      // Never Ready on a source state an earlier adapter left.
      if (!conds.get(T.SourceReady))
        conds.markUnknown(T.SourceReady, "AdapterStarting", "the adapter has not reported yet");
    }
    if (!conds.get(T.SourceReady))
      conds.markUnknown(T.SourceReady, "AdapterStarting", "the adapter has not reported yet");
  }
}
