/**
 * Kubernetes Events on Functions and Triggers (kubectl describe shows them): the
 * controller's transitions, the autoscaler's scale decisions, the activators' cold starts.
 * Recording never fails the work it tells of: an Event that cannot be written is logged.
 */
import { randomBytes } from "node:crypto";
import { CoreV1Api, type CoreV1Event, type KubeConfig } from "@kubernetes/client-node";
import type { Logger } from "./logger.ts";

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

/** Where Events are written: the API server (CoreV1Api.createNamespacedEvent), in tests a fake. */
export interface EventSink {
  createEvent(e: CoreV1Event): Promise<void>;
}

/** The API server as an EventSink. */
export function kubeEventSink(kc: KubeConfig): EventSink {
  const core = kc.makeApiClient(CoreV1Api);
  return {
    createEvent: async (e) => {
      await core.createNamespacedEvent({ namespace: e.metadata.namespace as string, body: e });
    },
  };
}

export class ApiEventRecorder implements EventRecorder {
  private readonly api: EventSink;
  private readonly component: string;
  private readonly log: Logger;
  private readonly now: () => Date;

  constructor(api: EventSink, component: string, log: Logger, now: () => Date) {
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
