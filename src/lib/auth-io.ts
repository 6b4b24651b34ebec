/**
 * The authorizer's two questions to the API server (auth.ts decides what to ask):
 * TokenReview and SubjectAccessReview, both `create` on cluster-scoped review resources.
 */
import { AuthenticationV1Api, AuthorizationV1Api, type KubeConfig } from "@kubernetes/client-node";
import type { AccessRequest, AccessReviewer, TokenReviewer, UserInfo } from "./auth.ts";

/** The API group the invoke API's permissions are written in. */
export const INVOKE_API_GROUP = "updraft.dev";

export function kubeTokenReviewer(kc: KubeConfig): TokenReviewer {
  const api = kc.makeApiClient(AuthenticationV1Api);
  return {
    async review(token) {
      const r = await api.createTokenReview({
        body: { apiVersion: "authentication.k8s.io/v1", kind: "TokenReview", spec: { token } },
      });
      const s = r.status;
      if (!s?.authenticated || !s.user?.username) return undefined;
      return {
        username: s.user.username,
        groups: s.user.groups ?? [],
        ...(s.user.uid ? { uid: s.user.uid } : {}),
        ...(s.user.extra ? { extra: s.user.extra } : {}),
      };
    },
  };
}

export function kubeAccessReviewer(kc: KubeConfig): AccessReviewer {
  const api = kc.makeApiClient(AuthorizationV1Api);
  return {
    async review(user: UserInfo, request: AccessRequest) {
      const r = await api.createSubjectAccessReview({
        body: {
          apiVersion: "authorization.k8s.io/v1",
          kind: "SubjectAccessReview",
          spec: {
            user: user.username,
            groups: user.groups,
            ...(user.uid ? { uid: user.uid } : {}),
            ...(user.extra ? { extra: user.extra } : {}),
            resourceAttributes: {
              group: INVOKE_API_GROUP,
              resource: request.resource,
              verb: request.verb,
              namespace: request.namespace,
              ...(request.name ? { name: request.name } : {}),
            },
          },
        },
      });
      return {
        allowed: r.status?.allowed === true && r.status.denied !== true,
        ...(r.status?.reason ? { reason: r.status.reason } : {}),
      };
    },
  };
}
