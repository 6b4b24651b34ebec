/**
 * Pure status logic: what a child's observed state says about its Function's conditions.
 */
import type { V1Deployment, V1Pod } from "@kubernetes/client-node";
import type { ConditionStatus } from "../lib/conditions.ts";
import { SHIM_EXIT_PREFIX, SHIM_START_FAILURES } from "../protocol/termination.ts";

export interface Verdict {
  status: ConditionStatus;
  reason: string;
  message: string;
}

/**
 * DeploymentReady says whether the function's Deployment is rolled out and healthy. It is
 * True at zero replicas (a function at zero is ready to be woken) and stays True while the
 * autoscaler adds instances; it goes False only when the rollout itself fails.
 */
export function deploymentVerdict(d: V1Deployment | undefined): Verdict {
  if (!d) return { status: "Unknown", reason: "Deploying", message: "Deployment not created yet" };
  const generation = d.metadata?.generation ?? 0;
  const observed = d.status?.observedGeneration ?? 0;
  if (observed < generation) {
    return { status: "Unknown", reason: "Deploying", message: "waiting for the Deployment controller" };
  }
  const conditions = d.status?.conditions ?? [];
  const failure = conditions.find((c) => c.type === "ReplicaFailure" && c.status === "True");
  if (failure) {
    return { status: "False", reason: "ReplicaFailure", message: failure.message ?? "" };
  }
  const progressing = conditions.find((c) => c.type === "Progressing");
  if (progressing?.status === "False") {
    return {
      status: "False",
      reason: progressing.reason ?? "ProgressDeadlineExceeded",
      message: progressing.message ?? "",
    };
  }
  const wanted = d.spec?.replicas ?? 0;
  const updated = d.status?.updatedReplicas ?? 0;
  const total = d.status?.replicas ?? 0;
  if (wanted > 0 && (updated < wanted || total > updated)) {
    return {
      status: "True",
      reason: "RollingOut",
      message: `${updated} of ${wanted} instances updated`,
    };
  }
  return { status: "True", reason: "Deployed", message: "" };
}

/** Active says whether the function has instances (False: it is at zero and wakes on demand). */
export function activeVerdict(d: V1Deployment | undefined): Verdict {
  const wanted = d?.spec?.replicas ?? 0;
  const ready = d?.status?.readyReplicas ?? 0;
  if (wanted === 0 && ready === 0) {
    return { status: "False", reason: "ScaledToZero", message: "no instances; the next request wakes one" };
  }
  if (ready === 0)
    return { status: "Unknown", reason: "Activating", message: `waiting for ${wanted} instances` };
  return { status: "True", reason: "Active", message: `${ready} of ${wanted} instances ready` };
}

/**
 * Whether the Deployment has fully replaced its old pods, so code ConfigMaps of earlier
 * versions can be deleted without pulling files from under a running pod.
 */
export function rolloutComplete(d: V1Deployment | undefined): boolean {
  if (!d?.status) return false;
  const generation = d.metadata?.generation ?? 0;
  if ((d.status.observedGeneration ?? 0) < generation) return false;
  return (d.status.replicas ?? 0) === (d.status.updatedReplicas ?? 0);
}

/**
 * Waiting reasons of a container that is not on its way to running: a wrong image, a
 * missing Secret or ConfigMap, a process that exits at start. Others (ContainerCreating,
 * PodInitializing) are the way to running.
 */
const FAILING_WAITING_REASONS = new Set([
  "CrashLoopBackOff",
  "CreateContainerConfigError",
  "CreateContainerError",
  "ErrImageNeverPull",
  "ErrImagePull",
  "ImagePullBackOff",
  "InvalidImageName",
  "RunContainerError",
]);

/**
 * Of those, the ones no retry can mend: the image name cannot be parsed, or the pod may not
 * pull at all. Every other failure the kubelet (or the scheduler) tries again on its own,
 * and some pass by themselves: the kubelet reports CreateContainerConfigError "failed to
 * sync secret cache: timed out waiting for the condition" for a pod in a namespace it has
 * just begun to watch, and a registry that hiccups gives one ErrImagePull.
 */
const PERMANENT_WAITING_REASONS = new Set(["ErrImageNeverPull", "InvalidImageName"]);

/**
 * How long an instance may fail in a way the kubelet retries before it is held as failing:
 * InstancesHealthy False, and calls refused at once (FunctionNotReady) instead of waiting.
 * Before that it is Unknown, with the kubelet's reason, and calls wait for the retry. 30 s
 * covers the kubelet's first image-pull back-off (10 s) and its pod-sync retries; Knative
 * waits for the Deployment's progress deadline (600 s by default) before it says the same.
 *
 * Example: a pod started at 12:00:00 waiting with ImagePullBackOff is Unknown at 12:00:20
 * (looked at again 10 s later) and False from 12:00:30 on.
 */
export const INSTANCE_FAILURE_GRACE_MS = 30_000;

export interface InstancesVerdict extends Verdict {
  /** When an Unknown verdict turns False if nothing changes: look again then. */
  recheckAfterMs?: number;
}

/**
 * InstancesHealthy says whether the function's instances can run: False, with the
 * kubelet's reason, when one of its pods cannot be scheduled or has a container that
 * cannot start — the reason a call would otherwise only meet as a 503 NoInstanceReady.
 * A failure the kubelet retries counts only once the pod is INSTANCE_FAILURE_GRACE_MS old;
 * until then the verdict is Unknown with the same reason. The age is read from the pod's
 * creationTimestamp, which the API server writes (its clock, not the node's), and never
 * taken as less than zero, so a clock ahead of the controller's cannot stretch the grace. At zero
 * there is nothing to judge: True. Of several failing pods the first by name speaks (a held
 * failure before a young one), and the message leaves out what changes at each retry (the
 * back-off delay), so the status is not rewritten while nothing else changes.
 *
 * Example: a pod made 40 s ago waiting with CreateContainerConfigError,
 * `secret "cos-role" not found`, gives False, CreateContainerConfigError, `instance
 * fn-hello-7d9f-x2b: container function: secret "cos-role" not found`; 5 s after it was
 * made, the same is Unknown, and the message ends "(being retried)".
 */
export function instancesVerdict(
  pods: readonly V1Pod[],
  now: Date,
  graceMs = INSTANCE_FAILURE_GRACE_MS,
): InstancesVerdict {
  const live = pods
    .filter((p) => !p.metadata?.deletionTimestamp)
    .sort((a, b) => (a.metadata?.name ?? "").localeCompare(b.metadata?.name ?? ""));
  let young: InstancesVerdict | undefined;
  for (const pod of live) {
    const failure = podFailure(pod);
    if (!failure) continue;
    const made = pod.metadata?.creationTimestamp ?? pod.status?.startTime;
    // No time at all (a hand-made object): as young as it can be.
    const age = made ? Math.max(0, now.getTime() - new Date(made).getTime()) : 0;
    if (failure.permanent || age >= graceMs)
      return { status: "False", reason: failure.reason, message: failure.message };
    const recheckAfterMs = graceMs - age;
    if (!young)
      young = {
        status: "Unknown",
        reason: failure.reason,
        message: `${failure.message} (being retried)`,
        recheckAfterMs,
      };
    else young.recheckAfterMs = Math.min(young.recheckAfterMs ?? recheckAfterMs, recheckAfterMs);
  }
  return young ?? { status: "True", reason: "Healthy", message: "" };
}

/** What keeps one pod from running, if anything. */
function podFailure(pod: V1Pod): { reason: string; message: string; permanent: boolean } | undefined {
  const name = pod.metadata?.name ?? "";
  const unschedulable = pod.status?.conditions?.find(
    (c) => c.type === "PodScheduled" && c.status === "False" && c.reason === "Unschedulable",
  );
  if (unschedulable)
    return {
      reason: "Unschedulable",
      message: `instance ${name}: ${unschedulable.message ?? "no node can take it"}`,
      permanent: false,
    };
  const containers = [...(pod.status?.initContainerStatuses ?? []), ...(pod.status?.containerStatuses ?? [])];
  for (const c of containers) {
    const waiting = c.state?.waiting;
    if (!waiting?.reason || !FAILING_WAITING_REASONS.has(waiting.reason)) continue;
    const last = c.lastState?.terminated;
    // CrashLoopBackOff's own message is the back-off ("back-off 20s restarting …"): the
    // exit that caused it says more, and does not change at each retry — with the shim's
    // own reason when it wrote one (SHIM_EXIT_PREFIX). A log's last line (what the kubelet
    // falls back to) is not quoted: it may change at every restart (a time, a request id),
    // rewriting the status each time, and it is the user's output, not ours.
    const said = shimReason(last?.message);
    // The shim's coded reason for an instance that cannot start names the failure better
    // than the kubelet's CrashLoopBackOff: "updraft-runtime: CodeDownloadFailed: …".
    const code = /^ ([A-Za-z]+): /.exec(said.slice(SHIM_EXIT_PREFIX.length))?.[1];
    const detail =
      waiting.reason === "CrashLoopBackOff" && last
        ? `exited with code ${last.exitCode}${last.reason ? ` (${last.reason})` : ""}${said ? `: ${said}` : ""}`
        : (waiting.message ?? waiting.reason);
    return {
      reason:
        waiting.reason === "CrashLoopBackOff" && code && SHIM_START_FAILURES.has(code)
          ? code
          : waiting.reason,
      message: `instance ${name}: container ${c.name}: ${detail}`,
      permanent: PERMANENT_WAITING_REASONS.has(waiting.reason),
    };
  }
  return undefined;
}

/** Of a termination message, the last line the shim wrote (SHIM_EXIT_PREFIX), at most 300 characters. */
const TERMINATION_DETAIL_MAX = 300;
function shimReason(message: string | undefined): string {
  const line =
    (message ?? "")
      .split("\n")
      .map((l) => l.trim())
      .filter((l) => l.startsWith(SHIM_EXIT_PREFIX))
      .at(-1) ?? "";
  // By code points, so a character outside the BMP is not cut in half.
  const chars = Array.from(line);
  return chars.length > TERMINATION_DETAIL_MAX
    ? `${chars.slice(0, TERMINATION_DETAIL_MAX - 1).join("")}…`
    : line;
}
