/**
 * ObjectStorage (push, async by default). The chart's object store sends one global feed of
 * bucket notifications; the storage-events router (a system component) consumes it and
 * posts each record only to the adapters of the Triggers whose namespace may see it and
 * whose bucket, event kinds and key filters match — so no tenant sees another's events.
 * This adapter turns each record into SCF's COS event and stores it in the function's async
 * queue before answering the router, which only then moves past it in the feed. Its source
 * state is the router's answer about the bucket (exists, missing, store unreachable).
 */
import { createHash } from "node:crypto";
import { request } from "undici";
import { cosRecord, recordId, type StorageEventsPush } from "../protocol/storage-events.ts";
import type { Adapter, AdapterContext } from "./adapter.ts";

const HEALTH_INTERVAL_MS = 10_000;

export function objectStorageAdapter(ctx: AdapterContext, routerUrl: string, storeEndpoint: string): Adapter {
  const spec = ctx.trigger.spec.objectStorage!;
  const mode = ctx.trigger.spec.invocation ?? "Async";
  let timer: NodeJS.Timeout | undefined;

  async function health(): Promise<void> {
    if (!routerUrl) {
      ctx.source({
        ready: false,
        reason: "ObjectStoreNotConfigured",
        message: "Updraft was installed without an object store (chart value objectStorage.enabled)",
      });
      return;
    }
    try {
      const res = await request(`${routerUrl}/v1/buckets/${encodeURIComponent(spec.bucket)}`, {
        headersTimeout: 5_000,
        bodyTimeout: 5_000,
      });
      const body = (await res.body.json()) as { reason?: string; message?: string };
      ctx.source({
        ready: res.statusCode === 200,
        reason: body.reason ?? (res.statusCode === 200 ? "BucketFound" : "BucketNotFound"),
        message: body.message ?? `bucket ${spec.bucket}`,
      });
    } catch (err) {
      ctx.source({
        ready: false,
        reason: "RouterUnreachable",
        message: `storage-events router: ${String(err)}`,
      });
    }
  }

  return {
    async start() {
      void health();
      timer = setInterval(() => void health(), HEALTH_INTERVAL_MS);
    },
    async stop() {
      if (timer) clearInterval(timer);
    },
    async receive(body: unknown) {
      const push = body as StorageEventsPush;
      let accepted = 0;
      let failed = 0;
      for (const [i, r] of (push.records ?? []).entries()) {
        const id = push.ids?.[i] ?? recordId(r);
        const outcome = await ctx.deliver({
          event: { Records: [cosRecord(r, push.region, push.appid, storeEndpoint)] },
          mode,
          idempotencyKey: `cos/${ctx.trigger.uid}/${createHash("sha256").update(id).digest("hex")}`,
        });
        if (outcome.kind === "delivered") accepted++;
        else if (outcome.kind === "rejected" || outcome.kind === "functionError") {
          // Never storable: counted and skipped so the feed moves on.
          failed++;
          ctx.failed(1);
        } else {
          throw new Error(`event not stored: ${outcome.message}`);
        }
      }
      return { accepted, failed };
    },
  };
}
