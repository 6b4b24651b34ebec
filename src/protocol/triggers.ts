/**
 * The wire names trigger adapters share with the activator and the runtime shim: headers of
 * the invoke API, how an idempotency key becomes a request id, what an adapter's children
 * are called. Components import these names from here and never spell them out.
 */
import { createHash } from "node:crypto";
import { UpdraftHeaders } from "./headers.ts";

/** Headers of the invoke API (POST /v1/namespaces/{ns}/functions/{fn}/invocations). */
export const InvokeHeaders = {
  invocationType: UpdraftHeaders.invocationType,
  requestId: UpdraftHeaders.requestId,
  idempotencyKey: UpdraftHeaders.idempotencyKey,
  triggerSource: UpdraftHeaders.triggerSource,
  trigger: UpdraftHeaders.trigger,
  duplicate: UpdraftHeaders.duplicate,
  functionError: UpdraftHeaders.functionError,
  errorCode: UpdraftHeaders.errorCode,
} as const;

/** Header of a function instance's /invoke: the trigger source, passed to the language worker. */
export const InstanceHeaders = {
  triggerSource: UpdraftHeaders.triggerSource,
} as const;

/** The runtime API's response header on /runtime/invocation/next (lower case, as SCF's). */
export const RUNTIME_TRIGGER_SOURCE_HEADER = "trigger_src";

/** Values of TRIGGER_SRC, by trigger type (SCF sets "timer" for timers). */
export const TRIGGER_SOURCES = {
  Timer: "timer",
  Kafka: "ckafka",
  Queue: "cmq",
  ObjectStorage: "cos",
} as const;

export const TRIGGER_SOURCE_PATTERN = /^[a-z][a-z0-9-]{0,31}$/;
/** An idempotency key: printable, no spaces, at most 256 characters. */
export const IDEMPOTENCY_KEY_PATTERN = /^[\x21-\x7e]{1,256}$/;

/**
 * The request id of a keyed event: a UUID-shaped digest of (namespace, function, key), so
 * every adapter replica and every restart derives the same id for the same scheduled time or
 * message, and two functions never share one. E.g. ("demo", "hello", "timer/tick/
 * 2026-12-01T04:00:00Z") → "3f0c…-…" (36 characters, like a random request id).
 */
export function requestIdForKey(namespace: string, fn: string, key: string): string {
  const h = createHash("sha256").update(`${namespace}\n${fn}\n${key}`).digest("hex");
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20, 32)}`;
}

/** Names of a Trigger's children: trigger "tick" → Deployment and Service "trig-tick". */
export const adapterName = (trigger: string): string => `trig-${trigger}`;
/** The ServiceAccount (and Role, RoleBinding) adapters of a namespace run as. */
export const ADAPTER_SERVICE_ACCOUNT = "updraft-trigger-adapter";
/** Port of an adapter's health, metrics and (push adapters) event endpoint. */
export const ADAPTER_PORT = 8080;
/** Push adapters take events here (the object-storage router posts S3 records). */
export const ADAPTER_EVENTS_PATH = "/v1/events";

/**
 * Web functions: the activator sends an Http trigger's raw request to an instance under
 * this prefix ("/web" + the request's path), and the shim proxies it to the function's own
 * server on 127.0.0.1:9000, as SCF does.
 */
export const WEB_PATH_PREFIX = "/web";
export const WEB_FUNCTION_PORT = 9000;
/** Set by the shim on its own refusals of a Web request (headers.ts, refusal). */
export const SHIM_REFUSAL_HEADER = UpdraftHeaders.refusal;

/**
 * A DNS domain for per-namespace Http hosts (the chart's http.namespaceDomain), or empty:
 * "fn.example.com" is one, "example" (one label), "Fn.Example.com" and "*.example.com" are not.
 */
export const NAMESPACE_DOMAIN_PATTERN =
  /^([a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)+)?$/;
