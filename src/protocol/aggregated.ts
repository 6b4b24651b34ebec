/**
 * The invoke API served also as an aggregated API (docs/security.md): the API server
 * authenticates whoever the kubeconfig holds — a client certificate, a token, an exec
 * plugin — authorizes the request with RBAC, and passes it to the activators with the user
 * in X-Remote-* headers over a connection that presents its front-proxy client certificate.
 * The CLI uses it when no activator URL is given.
 *
 *   POST /apis/invoke.updraft.dev/v1alpha1/namespaces/{ns}/functions/{name}/invocations
 *     = POST /v1/namespaces/{ns}/functions/{name}/invocations   (RBAC: create functions/invocations)
 *   GET  /apis/invoke.updraft.dev/v1alpha1/namespaces/{ns}/invocations/{id}
 *     = GET  /v1/namespaces/{ns}/invocations/{id}               (RBAC: get invocations)
 *   GET  /apis/invoke.updraft.dev/v1alpha1/namespaces/{ns}/invocations?function=…
 *     = GET  /v1/namespaces/{ns}/invocations?function=…         (RBAC: list invocations)
 *   POST /apis/invoke.updraft.dev/v1alpha1/namespaces/{ns}/packages?sha256=…
 *     = POST /v1/namespaces/{ns}/packages?sha256=…              (RBAC: create packages)
 */
export const AGGREGATED_GROUP = "invoke.updraft.dev";
/** The APIService the chart makes, whose caBundle the controller fills. */
export const APISERVICE_NAME = "v1alpha1.invoke.updraft.dev";
/**
 * The activators' serving certificate for the API server, in Updraft's namespace: made by
 * the controller (tls.crt, tls.key), served by every activator, trusted by the APIService.
 */
export const AGGREGATED_TLS_SECRET = "updraft-aggregated-tls";
/** The names the activators answer the API server as: the Service's, as the aggregator dials it. */
export const aggregatedServingNames = (namespace: string): string[] => [
  `updraft-activator.${namespace}.svc`,
  `updraft-activator.${namespace}.svc.cluster.local`,
  `updraft-activator.${namespace}`,
  "updraft-activator",
];
export const AGGREGATED_VERSION = "v1alpha1";
export const AGGREGATED_PREFIX = `/apis/${AGGREGATED_GROUP}/${AGGREGATED_VERSION}`;

/** The invoke API path an aggregated path stands for; undefined when it is none. */
export function invokePathOf(url: string): string | undefined {
  if (!url.startsWith(`${AGGREGATED_PREFIX}/namespaces/`)) return undefined;
  const rest = url.slice(AGGREGATED_PREFIX.length);
  const q = rest.indexOf("?");
  const path = q >= 0 ? rest.slice(0, q) : rest;
  if (
    /^\/namespaces\/[a-z0-9-]+\/functions\/[a-z0-9-]+\/invocations$/.test(path) ||
    /^\/namespaces\/[a-z0-9-]+\/invocations\/[A-Za-z0-9-]+$/.test(path) ||
    /^\/namespaces\/[a-z0-9-]+\/invocations$/.test(path) ||
    /^\/namespaces\/[a-z0-9-]+\/packages$/.test(path)
  )
    return `/v1${rest}`;
  return undefined;
}

/** What GET {AGGREGATED_PREFIX} answers: the resources the API server may route here. */
export const AGGREGATED_RESOURCES = {
  kind: "APIResourceList",
  apiVersion: "v1",
  groupVersion: `${AGGREGATED_GROUP}/${AGGREGATED_VERSION}`,
  // No bare "functions": kubectl would then resolve `kubectl get functions` to this group
  // instead of updraft.dev's Functions. A subresource alone is enough to route its path.
  resources: [
    {
      name: "functions/invocations",
      singularName: "",
      namespaced: true,
      kind: "Invocation",
      verbs: ["create"],
    },
    {
      name: "invocations",
      singularName: "invocation",
      namespaced: true,
      kind: "Invocation",
      verbs: ["get", "list"],
    },
    {
      name: "packages",
      singularName: "package",
      namespaced: true,
      kind: "Package",
      verbs: ["create"],
    },
  ],
};

/** The API server's front-proxy headers (the cluster's --requestheader-* flags' defaults). */
export const REMOTE_USER_HEADER = "x-remote-user";
export const REMOTE_GROUP_HEADER = "x-remote-group";
export const REMOTE_EXTRA_PREFIX = "x-remote-extra-";
