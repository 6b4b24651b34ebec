/**
 * A ServiceAccount token read from its projected file, for calls a component makes to
 * another with its own identity. The kubelet rotates the file (at 80 % of the token's
 * life, an hour by default), so it is read again every minute rather than once; a missing
 * file (running outside a pod) gives no token.
 */
import { readFileSync } from "node:fs";

export const SERVICE_ACCOUNT_TOKEN_FILE = "/var/run/secrets/kubernetes.io/serviceaccount/token";

export function fileToken(
  path: string,
  refreshMs = 60_000,
  now: () => number = Date.now,
): () => string | undefined {
  let token: string | undefined;
  let readAt = Number.NEGATIVE_INFINITY;
  return () => {
    if (now() - readAt >= refreshMs) {
      readAt = now();
      try {
        token = readFileSync(path, "utf8").trim() || undefined;
      } catch {
        token = undefined;
      }
    }
    return token;
  };
}
