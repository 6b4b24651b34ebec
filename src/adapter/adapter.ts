/**
 * The trigger adapter's one interface (as KEDA has one Scaler interface): each trigger type
 * is a module that turns its source's events into deliveries and says whether its source
 * is reachable. Everything around it — invoking, counting, status, metrics, the HTTP
 * endpoint — is shared and lives outside the modules.
 */
import type { TriggerSpec } from "../api/v1alpha1.ts";
import type { Logger } from "../lib/logger.ts";
import type { Delivery, DeliveryOutcome } from "./invoker.ts";

/** The one Trigger an adapter pod serves. */
export interface TriggerRef {
  namespace: string;
  name: string;
  uid: string;
  /** When the Trigger was created: a timer never fires a time before it. */
  createdAt: Date;
  spec: TriggerSpec;
}

/** What a source is doing, for the Trigger's SourceReady condition. */
export interface SourceState {
  ready: boolean;
  /** One CamelCase word, e.g. BrokerUnreachable, BucketNotFound, Connected. */
  reason: string;
  message: string;
}

export interface AdapterContext {
  trigger: TriggerRef;
  /** Sends one event to the function through the activator's invoke API. */
  deliver(d: Delivery): Promise<DeliveryOutcome>;
  /** Hands a batch that failed every retry to the function's dead-letter target. */
  deadLetter(d: { requestId: string; error: string; attempts: number; event: unknown }): Promise<string>;
  /** Reports the source's state (written to the Trigger's status, batched). */
  source(state: SourceState): void;
  /** Counts events that failed for good (dead-lettered, refused): the Trigger's failedCount. */
  failed(n: number): void;
  /** Reports consumer lag, where the source has one. */
  lag(messages: number): void;
  /** Secrets the Deployment mounted as environment variables (credentialsSecret). */
  credentials: { username?: string; password?: string; accessKeyId?: string; secretAccessKey?: string };
  log: Logger;
  now: () => number;
}

export interface Adapter {
  /** Starts consuming or scheduling; resolves once started (it runs until stop()). */
  start(): Promise<void>;
  /** Stops taking events and lets the ones in flight finish. */
  stop(): Promise<void>;
  /** Push adapters: the events a router posted (JSON body); resolves once each is stored. */
  receive?(body: unknown): Promise<{ accepted: number; failed: number }>;
}

export type AdapterFactory = (ctx: AdapterContext) => Adapter;
