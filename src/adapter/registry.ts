/**
 * One module per trigger type (Http triggers are served by the activator itself).
 */
import type { TriggerType } from "../api/v1alpha1.ts";
import type { Adapter, AdapterContext } from "./adapter.ts";
import { kafkaAdapter } from "./kafka.ts";
import { objectStorageAdapter } from "./object-storage.ts";
import { queueAdapter } from "./queue.ts";
import { timerAdapter } from "./timer.ts";

export interface RegistryConfig {
  /** The storage-events router's URL (ObjectStorage). */
  storageEventsUrl: string;
  /** The object store's endpoint as functions see it in COS events. */
  storeEndpoint: string;
}

export type AdapterType = Exclude<TriggerType, "Http">;

export function makeAdapter(type: AdapterType, ctx: AdapterContext, cfg: RegistryConfig): Adapter {
  switch (type) {
    case "Timer":
      return timerAdapter(ctx);
    case "Kafka":
      return kafkaAdapter(ctx);
    case "Queue":
      return queueAdapter(ctx);
    case "ObjectStorage":
      return objectStorageAdapter(ctx, cfg.storageEventsUrl, cfg.storeEndpoint);
  }
}
