/**
 * Kubernetes Events on a Function's or Trigger's transitions (kubectl describe shows
 * them). Recording never fails a reconcile: an Event that cannot be written is logged.
 */
import { randomBytes } from "node:crypto";
import type { CoreV1Event } from "@kubernetes/client-node";
import type { Logger } from "../lib/logger.ts";
import type { ControllerApi } from "./api.ts";

export interface Involved {
  apiVersion: string;
  kind: string;
  metadata: { name?: string; namespace?: string; uid?: string; resourceVersion?: string };
}

export type EventType = "Normal" | "Warning";

export interface EventRecorder {
  record(obj: Involved, type: EventType, reason: string, message: string): void;
}

export function makeEvent(
  obj: Involved,
  type: EventType,
  reason: string,
  message: string,
  component: string,
  now: Date,
): CoreV1Event {
  const time = now.toISOString();
  return {
    apiVersion: "v1",
    kind: "Event",
    metadata: {
      name: `${obj.metadata.name}.${randomBytes(8).toString("hex")}`,
      namespace: obj.metadata.namespace!,
    },
    involvedObject: {
      apiVersion: obj.apiVersion,
      kind: obj.kind,
      name: obj.metadata.name!,
      namespace: obj.metadata.namespace!,
      uid: obj.metadata.uid!,
      resourceVersion: obj.metadata.resourceVersion!,
    },
    type,
    reason,
    message,
    source: { component },
    reportingComponent: component,
    reportingInstance: component,
    firstTimestamp: time as unknown as Date,
    lastTimestamp: time as unknown as Date,
    count: 1,
  };
}

export class ApiEventRecorder implements EventRecorder {
  private readonly api: Pick<ControllerApi, "createEvent">;
  private readonly component: string;
  private readonly log: Logger;
  private readonly now: () => Date;

  constructor(api: Pick<ControllerApi, "createEvent">, component: string, log: Logger, now: () => Date) {
    this.api = api;
    this.component = component;
    this.log = log;
    this.now = now;
  }

  record(obj: Involved, type: EventType, reason: string, message: string): void {
    const event = makeEvent(obj, type, reason, message, this.component, this.now());
    this.api.createEvent(event).catch((err: unknown) => {
      this.log.warn("could not record event", { reason, object: obj.metadata.name, err: String(err) });
    });
  }
}
