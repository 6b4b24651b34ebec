/**
 * Object-storage events: the S3 notification records an S3-compatible server sends (AWS's
 * format: Records[].eventName, .s3.bucket.name, .s3.object.key/size/eTag/sequencer), which
 * Triggers they reach, and SCF's COS shape the function receives. The storage-events router
 * posts matched records to a Trigger's adapter as a StorageEventsPush.
 */
import type { TriggerSpec } from "../api/v1alpha1.ts";

export interface S3Record {
  eventName: string;
  eventTime?: string;
  requestParameters?: { sourceIPAddress?: string };
  responseElements?: Record<string, string>;
  s3: {
    bucket: { name: string };
    object: { key: string; size?: number; eTag?: string; sequencer?: string; versionId?: string };
  };
}

/** What the router posts to an adapter's events endpoint. */
export interface StorageEventsPush {
  region: string;
  appid: string;
  records: S3Record[];
  /**
   * Where each record sits in the feed ("{topic}/{partition}/{offset}/{index}"): unique per
   * record, and the same when a feed message is delivered again after a router restart —
   * the record's idempotency key. (S3 sequencers restart with the server, so they are not.)
   */
  ids: string[];
}

/**
 * "s3:ObjectCreated:Put" (or AWS's "ObjectCreated:Put") → "cos:ObjectCreated:Put";
 * "s3:ObjectRemoved:Delete" → "cos:ObjectRemove:Delete" (COS says Remove, S3 Removed).
 */
export function cosEventName(s3Name: string): string {
  const bare = s3Name.replace(/^s3:/, "");
  return `cos:${bare.replace(/^ObjectRemoved:/, "ObjectRemove:")}`;
}

/** Object keys arrive URL-encoded in S3 notifications ("photos/a+b.png" is "a b"). */
export function decodeKey(key: string): string {
  try {
    return decodeURIComponent(key.replace(/\+/g, " "));
  } catch {
    return key;
  }
}

/** Does this record reach this Trigger? Bucket equal, an event kind matching, key filters. */
export function recordMatches(spec: NonNullable<TriggerSpec["objectStorage"]>, r: S3Record): boolean {
  if (r.s3?.bucket?.name !== spec.bucket) return false;
  const name = cosEventName(r.eventName);
  const kindOk = spec.events.some((e) => (e.endsWith(":*") ? name.startsWith(e.slice(0, -1)) : name === e));
  if (!kindOk) return false;
  const key = decodeKey(r.s3.object.key);
  if (spec.prefix && !key.startsWith(spec.prefix)) return false;
  if (spec.suffix && !key.endsWith(spec.suffix)) return false;
  return true;
}

/** An id of one object event from its own fields, when the feed gave none. */
export function recordId(r: S3Record): string {
  const o = r.s3.object;
  return `${r.s3.bucket.name}/${o.key}/${r.eventName}/${o.sequencer ?? ""}/${o.eTag ?? ""}/${r.eventTime ?? ""}`;
}

/** SCF's COS event record for one S3 record. */
export function cosRecord(r: S3Record, region: string, appid: string, endpoint: string) {
  const key = decodeKey(r.s3.object.key);
  const bucket = r.s3.bucket.name;
  const t = r.eventTime ? Date.parse(r.eventTime) : Date.now();
  return {
    cos: {
      cosSchemaVersion: "1.0",
      cosObject: {
        url: `${endpoint.replace(/\/$/, "")}/${bucket}/${key}`,
        meta: {
          "x-cos-request-id": r.responseElements?.["x-amz-request-id"] ?? "",
          "Content-Type": "",
          ETag: (r.s3.object.eTag ?? "").replace(/"/g, ""),
        },
        vid: r.s3.object.versionId ?? "",
        key: `/${appid}/${bucket}/${key}`,
        size: r.s3.object.size ?? 0,
      },
      cosBucket: { region, name: bucket, appid },
      cosNotificationId: "updraft",
    },
    event: {
      eventName: cosEventName(r.eventName),
      eventVersion: "1.0",
      eventTime: Math.floor(t / 1000),
      eventSource: "qcs::cos",
      requestParameters: {
        requestSourceIP: r.requestParameters?.sourceIPAddress ?? "",
        requestHeaders: { Authorization: "" },
      },
      eventQueue: "",
      reservedInfo: "",
      reqid: 0,
    },
  };
}
