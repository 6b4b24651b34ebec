/**
 * HTTP names shared by the proxies in Updraft (the activator for Web functions, the shim in
 * front of a Web function's server).
 */

/** Hop-by-hop headers (RFC 9110 §7.6.1) and those a proxy sets itself: never forwarded. */
export const HOP_BY_HOP_HEADERS: ReadonlySet<string> = new Set([
  "connection",
  "keep-alive",
  "proxy-authenticate",
  "proxy-authorization",
  "te",
  "trailer",
  "transfer-encoding",
  "upgrade",
  "host",
  "content-length",
]);

/**
 * The largest request body an instance takes on /invoke: SCF's 6 MB sync event (an async
 * event is at most 128 KB). The activator refuses larger ones first; the shim refuses them
 * too, so nothing that reaches an instance another way can take its memory.
 */
export const INVOKE_BODY_LIMIT_BYTES = 6 * 1024 * 1024;

/**
 * The largest answer the activator reads from an instance: SCF's 6 MB result and room for
 * the error body's stack trace — above it the answer is not SCF's, and reading it whole
 * would let one instance take the activator's memory (502, ResultTooLarge).
 */
export const ANSWER_LIMIT_BYTES = 6 * 1024 * 1024 + 64 * 1024;

/**
 * How long Updraft's servers keep an idle kept-alive connection before closing it
 * themselves. A client that sends on an idle connection just as the server closes it gets
 * EOF, and a proxy answers that request with an error it never sent on. So a server must
 * keep its idle connections longer than any client in front of it keeps its own, and many
 * ignore the Keep-Alive hint: Go's http.Transport keeps them 90 s (the kube-apiserver's
 * proxy to services and to aggregated APIs is one), nginx's upstream keep-alive 60 s.
 * Example: at 65 s, a call through the API server made 70 s after the last one can be
 * written on the proxy's pooled connection as the activator closes it, and come back
 * `503 error trying to reach service: EOF`; at 120 s the proxy drops it first, at 90 s.
 */
export const SERVER_IDLE_CONNECTION_MS = 120_000;

/** Sets a server's idle kept-alive connections to SERVER_IDLE_CONNECTION_MS (headers a second more). */
export function keepIdleConnections(server: { keepAliveTimeout: number; headersTimeout: number }): void {
  server.keepAliveTimeout = SERVER_IDLE_CONNECTION_MS;
  server.headersTimeout = SERVER_IDLE_CONNECTION_MS + 1_000;
}

/** A header name as RFC 9110 §5.6.2 allows it (a token). */
const TOKEN = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;
/** A field value with CR, LF, NUL or another control character (a tab is allowed). */
function unsendable(v: string): boolean {
  for (let i = 0; i < v.length; i++) {
    const c = v.charCodeAt(i);
    if ((c < 0x20 && c !== 0x09) || c === 0x7f) return true;
  }
  return false;
}

/**
 * A value as bytes on the wire: Node.js sends a header as latin1, one byte a character, and
 * refuses a character beyond it — so such text goes as its UTF-8 bytes (文 → E6 96 87).
 */
function wireValue(v: string): string {
  for (let i = 0; i < v.length; i++)
    if (v.charCodeAt(i) > 0xff) return Buffer.from(v, "utf8").toString("latin1");
  return v;
}

/**
 * The headers of a function's answer that may reach an HTTP caller: hop-by-hop ones (the
 * activator frames the answer itself) and any whose name is not a token or whose value
 * carries CR, LF or another control character are dropped — so a function cannot split
 * the response, smuggle a second one, or fail it (Node.js throws on such a value). Example:
 * {"set-cookie": ["a=1", "b=2\r\nx: y"], "connection": "close", "x-ok": "1"} →
 * {"set-cookie": ["a=1"], "x-ok": "1"}, 2 dropped.
 */
export function sendableResponseHeaders(headers: Record<string, string | string[]>): {
  headers: Record<string, string | string[]>;
  dropped: number;
} {
  const out: Record<string, string | string[]> = {};
  let dropped = 0;
  for (const [name, value] of Object.entries(headers)) {
    if (!TOKEN.test(name) || HOP_BY_HOP_HEADERS.has(name.toLowerCase())) {
      dropped += Array.isArray(value) ? value.length : 1;
      continue;
    }
    if (Array.isArray(value)) {
      const kept = value.filter((v) => !unsendable(v)).map(wireValue);
      dropped += value.length - kept.length;
      if (kept.length > 0) out[name] = kept;
    } else if (unsendable(value)) dropped++;
    else out[name] = wireValue(value);
  }
  return { headers: out, dropped };
}

/** An API gateway path parameter: a whole path segment {name}, e.g. {articleId}. */
export const PATH_PARAMETER = /^\{([A-Za-z_][A-Za-z0-9_]*)\}$/;

/** An Http trigger's path as the Trigger CRD's pattern takes it: /article/{articleId}. */
export const HTTP_TRIGGER_PATH = /^(\/([A-Za-z0-9_.~-]*|\{[A-Za-z_][A-Za-z0-9_]*\}))+$/;

/**
 * The path parameters an Http trigger's path names more than once: their values could not
 * all be in the event's pathParameters, so such a path is not served (the controller says
 * why in the Trigger's Ready). Example: /user/{id}/friend/{id} → ["id"]; /user/{id} → [].
 */
export function repeatedPathParameters(path: string): string[] {
  const seen = new Set<string>();
  const repeated = new Set<string>();
  for (const segment of path.split("/")) {
    const name = PATH_PARAMETER.exec(segment)?.[1];
    if (name === undefined) continue;
    if (seen.has(name)) repeated.add(name);
    seen.add(name);
  }
  return [...repeated];
}
