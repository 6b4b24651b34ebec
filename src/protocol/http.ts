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
