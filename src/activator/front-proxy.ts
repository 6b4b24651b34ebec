/**
 * Who a request that came through the API server's aggregator is from. The API server
 * authenticated the user and authorized the request; it connects with its front-proxy
 * client certificate (signed by the requestheader CA, with a common name among the allowed
 * names) and names the user in X-Remote-* headers. Only such a connection's headers are
 * believed: anyone else could write them.
 */
import type { UserInfo } from "../lib/auth.ts";
import { REMOTE_EXTRA_PREFIX, REMOTE_GROUP_HEADER, REMOTE_USER_HEADER } from "../protocol/aggregated.ts";

export interface FrontProxyTrust {
  /** Common names the API server's client certificate may have; empty: any the CA signed. */
  allowedNames: readonly string[];
}

/**
 * The user, or the reason the request is not believed. `peer` is the TLS client
 * certificate the connection presented (undefined: none) and whether it chains to the
 * requestheader CA. Example: CN front-proxy-client, verified, X-Remote-User jane,
 * X-Remote-Group [dev, system:authenticated] → {username jane, groups [dev, system:authenticated]}.
 */
export function frontProxyUser(
  peer: { verified: boolean; commonName?: string } | undefined,
  headers: Record<string, string[] | undefined>,
  trust: FrontProxyTrust,
): { user: UserInfo } | { refused: string } {
  if (!peer) return { refused: "no client certificate: only the API server may call here" };
  if (!peer.verified) return { refused: "the client certificate is not signed by the requestheader CA" };
  if (trust.allowedNames.length > 0 && !trust.allowedNames.includes(peer.commonName ?? ""))
    return {
      refused: `the client certificate's name "${peer.commonName ?? ""}" is not an allowed front proxy`,
    };
  const username = headers[REMOTE_USER_HEADER]?.[0];
  if (!username) return { refused: "the API server named no user" };
  const extra: Record<string, string[]> = {};
  for (const [name, values] of Object.entries(headers)) {
    if (!name.startsWith(REMOTE_EXTRA_PREFIX) || !values) continue;
    // Extra keys are percent-encoded in header names (the API server's convention).
    extra[decodeURIComponent(name.slice(REMOTE_EXTRA_PREFIX.length))] = values;
  }
  return {
    user: {
      username,
      groups: headers[REMOTE_GROUP_HEADER] ?? [],
      ...(Object.keys(extra).length > 0 ? { extra } : {}),
    },
  };
}
