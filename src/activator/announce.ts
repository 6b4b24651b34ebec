/**
 * Instances that announce themselves (docs/data-path.md, "Instances announce themselves"):
 * a function pod's shim, once ready, tells an activator its pod's name, UID and address. The
 * activator believes none of it until the API server agrees — the pod exists with that UID,
 * is a function's instance and is not ending, and has no other address — and then serves it
 * only once the address answers /readyz as that pod. Then it passes the announcement on to
 * the other activators, which check it the same way.
 *
 * Why the UID is proof enough: it is a random UUID that only the pod (downward API) and who
 * may read pods in its namespace know; a pod elsewhere cannot name another namespace's
 * starting pod, and an address that is not that pod's shim does not answer as it.
 */
import type { V1Pod } from "@kubernetes/client-node";
import { Labels } from "../api/v1alpha1.ts";
import { UpdraftError } from "../lib/errors.ts";
import { type InstanceAnnouncement, parseAnnouncement } from "../protocol/announce.ts";

/**
 * The function ("namespace/name") whose starting instance the announced pod is, or why it
 * is not one. `pod`: the API server's object of that name, undefined when there is none.
 */
export function announcedFunction(
  a: InstanceAnnouncement,
  pod: V1Pod | undefined,
): { key: string } | { refusal: string } {
  if (!pod) return { refusal: `pod ${a.namespace}/${a.pod} does not exist` };
  if (pod.metadata?.uid !== a.uid) return { refusal: `pod ${a.namespace}/${a.pod} has another UID` };
  const fn = pod.metadata?.labels?.[Labels.function];
  if (!fn || pod.metadata?.labels?.[Labels.component] !== "function")
    return { refusal: `pod ${a.namespace}/${a.pod} is not a function's instance` };
  if (pod.metadata?.deletionTimestamp) return { refusal: `pod ${a.namespace}/${a.pod} is being deleted` };
  const phase = pod.status?.phase;
  if (phase === "Succeeded" || phase === "Failed")
    return { refusal: `pod ${a.namespace}/${a.pod} has ended` };
  // Unset until the kubelet reports it (the case announcing is for); once set, it must agree.
  const known = pod.status?.podIP;
  if (known && known !== a.ip) return { refusal: `pod ${a.namespace}/${a.pod} is at ${known}, not ${a.ip}` };
  return { key: `${a.namespace}/${fn}` };
}

export interface AnnouncementDeps {
  /** The pod from the API server; undefined when it does not exist. */
  readPod: (namespace: string, name: string) => Promise<V1Pod | undefined>;
  /** Takes a verified instance; false when its function is not known here. */
  announce: (key: string, ip: string, uid: string) => boolean;
  /** The other activators, to pass a first-hand announcement on to (fire and forget). */
  relay: (body: Buffer) => void;
  /** Counts each announcement by outcome (accepted, refused, invalid). */
  count?: (outcome: "accepted" | "refused" | "invalid") => void;
}

export class InstanceAnnouncements {
  private readonly deps: AnnouncementDeps;

  constructor(deps: AnnouncementDeps) {
    this.deps = deps;
  }

  /**
   * One announcement, as POSTed: InvalidParameter (400) when malformed, InstanceNotVerified
   * (403) when the API server does not agree, FunctionNotFound when the function is not
   * known here. `relayed`: it came from another activator, and goes no further.
   */
  async accept(body: Buffer, relayed: boolean): Promise<void> {
    let a: InstanceAnnouncement | undefined;
    try {
      a = parseAnnouncement(JSON.parse(body.toString("utf8")));
    } catch {
      a = undefined;
    }
    if (!a) {
      this.deps.count?.("invalid");
      throw new UpdraftError(
        "InvalidParameter",
        "an instance announcement is JSON with namespace, pod, uid and ip",
        { permanent: true },
      );
    }
    const verdict = announcedFunction(a, await this.deps.readPod(a.namespace, a.pod));
    if ("refusal" in verdict) {
      this.deps.count?.("refused");
      throw new UpdraftError("InstanceNotVerified", verdict.refusal, { permanent: true });
    }
    if (!this.deps.announce(verdict.key, a.ip, a.uid)) {
      this.deps.count?.("refused");
      throw new UpdraftError("FunctionNotFound", `function ${verdict.key} is not known here`);
    }
    this.deps.count?.("accepted");
    if (!relayed) this.deps.relay(body);
  }
}
