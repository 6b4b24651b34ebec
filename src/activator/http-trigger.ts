/**
 * HTTP triggers (docs/data-path.md): each enabled Http Trigger serves its path on the
 * activator, under its namespace — /http/{namespace}{path} — so two namespaces never
 * compete for a path. An Event function receives SCF's API-gateway event and answers with
 * its return value, or with an integrated response when the trigger says so.
 *
 * Everything here is pure: route matching, the event, the response mapping.
 */
import type { UpdraftTrigger } from "../api/v1alpha1.ts";
import { PATH_PARAMETER, repeatedPathParameters } from "../protocol/http.ts";

export const HTTP_PREFIX = "/http/";

export interface HttpRoute {
  namespace: string;
  trigger: string;
  function: string;
  /**
   * Normalised prefix, no trailing slash ("" for the root). It may hold API gateway's path
   * parameters, each a whole segment: /article/{articleId}.
   */
  path: string;
  /** path's segments after the first "/" ([] for the root): literal, or {name} parameters. */
  segments: readonly string[];
  /** How many of segments are literal: of two templates that match, the more literal serves. */
  literals: number;
  methods: ReadonlySet<string>;
  integratedResponse: boolean;
  /** Kubernetes: callers need a bearer token whose user may `invoke` the function. */
  auth: "None" | "Kubernetes";
}

export type RouteMatch =
  | { kind: "found"; route: HttpRoute; pathParameters: Record<string, string> }
  | { kind: "method"; route: HttpRoute }
  | { kind: "none" };

function normalise(path: string): string {
  return path.replace(/\/+$/, "");
}

/** A request path's segments after its first "/": "/a/b/" → ["a", "b"]. */
export function pathSegments(path: string): string[] {
  return normalise(path).split("/").slice(1);
}

/**
 * Of two templates as deep and as literal, the one whose first differing kind of segment is
 * literal comes first, as API gateway reads a path left to right: /x/{c} before /{a}/b (both
 * match /x/b). Negative when a comes first, 0 when they are alike.
 */
function literalFirst(a: readonly string[], b: readonly string[]): number {
  for (let i = 0; i < Math.min(a.length, b.length); i++) {
    const pa = PATH_PARAMETER.test(a[i]!);
    const pb = PATH_PARAMETER.test(b[i]!);
    if (pa !== pb) return pa ? 1 : -1;
  }
  return 0;
}

/**
 * The path parameters of a request path (its pathSegments) under a route, or undefined when the route does not
 * serve it. A route serves its path and every path below it, a parameter matching one
 * non-empty segment (its value URL-decoded). Example: route /article/{articleId} and
 * /article/12/comments → {articleId: "12"}; /article → undefined; /hello serves /hello and
 * /hello/x, not /helloworld.
 */
export function matchPath(
  segments: readonly string[],
  parts: readonly string[],
): Record<string, string> | undefined {
  if (parts.length < segments.length) return undefined;
  const params: Record<string, string> = {};
  for (let i = 0; i < segments.length; i++) {
    const want = segments[i]!;
    const got = parts[i]!;
    const param = PATH_PARAMETER.exec(want);
    if (!param) {
      if (got !== want) return undefined;
      continue;
    }
    if (got === "") return undefined;
    try {
      params[param[1]!] = decodeURIComponent(got);
    } catch {
      params[param[1]!] = got;
    }
  }
  return params;
}

/**
 * The routes of enabled Http triggers, by namespace, longest path first. Two triggers on
 * the same path in one namespace: the older one serves it (then the name decides), so
 * the answer does not depend on the order the informer lists them in.
 */
export class HttpRoutes {
  private byNamespace = new Map<string, HttpRoute[]>();

  setTriggers(list: readonly UpdraftTrigger[]): void {
    const next = new Map<string, Array<HttpRoute & { created: string }>>();
    for (const t of list) {
      if (t.spec.type !== "Http" || !t.spec.http || t.spec.enabled === false) continue;
      // Not served: the Trigger's Ready says why (the controller's PathParameterRepeated).
      if (repeatedPathParameters(t.spec.http.path).length > 0) continue;
      const ns = t.metadata.namespace ?? "default";
      const methods = new Set(t.spec.http.methods?.length ? t.spec.http.methods : ["ANY"]);
      const routes = next.get(ns) ?? [];
      const path = normalise(t.spec.http.path);
      const segments = pathSegments(path);
      routes.push({
        namespace: ns,
        trigger: t.metadata.name ?? "",
        function: t.spec.function,
        path,
        segments,
        literals: segments.filter((x) => !PATH_PARAMETER.test(x)).length,
        methods,
        integratedResponse: t.spec.http.integratedResponse ?? false,
        auth: t.spec.http.auth ?? "None",
        created: String(t.metadata.creationTimestamp ?? ""),
      });
      next.set(ns, routes);
    }
    const byNamespace = new Map<string, HttpRoute[]>();
    for (const [ns, routes] of next) {
      // The deepest route first (of a route and one under it, the one under it serves its
      // paths), and of two as deep, the one with more literal segments (/article/list before
      // /article/{articleId}), as API gateway chooses.
      routes.sort(
        (a, b) =>
          b.segments.length - a.segments.length ||
          b.literals - a.literals ||
          literalFirst(a.segments, b.segments) ||
          b.path.length - a.path.length ||
          a.created.localeCompare(b.created) ||
          a.trigger.localeCompare(b.trigger),
      );
      byNamespace.set(
        ns,
        routes.map(({ created: _created, ...r }) => r),
      );
    }
    this.byNamespace = byNamespace;
  }

  /**
   * The route for a request path within a namespace (matchPath), with its path parameters.
   * A path served for other methods only → "method".
   */
  match(namespace: string, path: string, method: string): RouteMatch {
    let wrongMethod: HttpRoute | undefined;
    // Split once, not once per route tried.
    const parts = pathSegments(path);
    for (const r of this.byNamespace.get(namespace) ?? []) {
      const pathParameters = matchPath(r.segments, parts);
      if (!pathParameters) continue;
      if (r.methods.has("ANY") || r.methods.has(method)) return { kind: "found", route: r, pathParameters };
      wrongMethod ??= r;
    }
    return wrongMethod ? { kind: "method", route: wrongMethod } : { kind: "none" };
  }
}

/** A Kubernetes namespace's name (a DNS label): what the path or the host must name. */
const NAMESPACE_NAME = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;

/** Splits /http/{namespace}/rest?query into its parts; undefined when it is not one. */
export function parseHttpUrl(url: string): { namespace: string; path: string; query: string } | undefined {
  if (!url.startsWith(HTTP_PREFIX)) return undefined;
  const q = url.indexOf("?");
  const pathPart = q >= 0 ? url.slice(0, q) : url;
  const query = q >= 0 ? url.slice(q + 1) : "";
  const rest = pathPart.slice(HTTP_PREFIX.length);
  const slash = rest.indexOf("/");
  const namespace = slash >= 0 ? rest.slice(0, slash) : rest;
  if (!NAMESPACE_NAME.test(namespace)) return undefined;
  return { namespace, path: slash >= 0 ? rest.slice(slash) : "/", query };
}

/**
 * With a host per namespace (the chart's http.namespaceDomain), namespace "shop"'s Http
 * triggers are served at shop.{domain}, so no two tenants share an origin (cookies, storage,
 * a page's same-origin reach). Example, domain "fn.example.com": Host "Shop.fn.example.com:8080"
 * and url "/cart?x=1" → {namespace "shop", path "/cart", query "x=1"}. One label before the
 * domain only: "a.shop.fn.example.com" and "fn.example.com" are no namespace's (undefined).
 */
export function parseHttpHost(
  host: string | undefined,
  url: string,
  domain: string,
): { namespace: string; path: string; query: string } | undefined {
  if (!host || !url.startsWith("/")) return undefined;
  const name = host.toLowerCase().replace(/:\d+$/, "").replace(/\.$/, "");
  const suffix = `.${domain.toLowerCase()}`;
  if (!name.endsWith(suffix)) return undefined;
  const namespace = name.slice(0, -suffix.length);
  if (!NAMESPACE_NAME.test(namespace)) return undefined;
  const q = url.indexOf("?");
  return { namespace, path: q >= 0 ? url.slice(0, q) : url, query: q >= 0 ? url.slice(q + 1) : "" };
}

export interface HttpRequestInfo {
  method: string;
  path: string;
  query: string;
  headers: Record<string, string | string[] | undefined>;
  body: Buffer;
  sourceIp: string;
  requestId: string;
}

const TEXTUAL = /^(text\/|application\/(json|xml|x-www-form-urlencoded|javascript)|[^;]*\+(json|xml))/i;

/**
 * SCF's API-gateway event for a request (test/fixtures/events/apigw-request.json). The body is
 * text when the content type is textual (or absent and the bytes are UTF-8), otherwise
 * base64 with isBase64Encoded. Repeated query keys keep the last value, as API gateway's
 * queryString does.
 * Example: GET /http/demo/hello/x?lang=en on a trigger at /hello → path "/hello/x",
 * queryString {lang: "en"}, requestContext.path "/hello"; GET /http/demo/article/7 on one
 * at /article/{articleId} → requestContext.path "/article/{articleId}", pathParameters
 * {articleId: "7"}.
 */
export function apiGatewayEvent(
  req: HttpRequestInfo,
  route: HttpRoute,
  pathParameters: Record<string, string> = {},
): Record<string, unknown> {
  const headers: Record<string, string> = {};
  for (const [k, v] of Object.entries(req.headers)) {
    if (v === undefined) continue;
    headers[k.toLowerCase()] = Array.isArray(v) ? v.join(",") : v;
  }
  const query: Record<string, string> = {};
  for (const [k, v] of new URLSearchParams(req.query)) query[k] = v;
  const contentType = headers["content-type"] ?? "";
  const text = req.body.length === 0 || TEXTUAL.test(contentType) || (!contentType && isUtf8(req.body));
  return {
    requestContext: {
      serviceId: "updraft",
      path: route.path || "/",
      httpMethod: req.method,
      requestId: req.requestId,
      identity: { secretId: "" },
      sourceIp: req.sourceIp,
      stage: "release",
    },
    headers,
    body: text ? req.body.toString("utf8") : req.body.toString("base64"),
    pathParameters,
    queryStringParameters: query,
    headerParameters: {},
    stageVariables: { stage: "release" },
    path: req.path,
    queryString: query,
    httpMethod: req.method,
    isBase64Encoded: !text,
  };
}

function isUtf8(b: Buffer): boolean {
  try {
    new TextDecoder("utf-8", { fatal: true }).decode(b);
    return true;
  } catch {
    return false;
  }
}

export interface HttpAnswer {
  status: number;
  headers: Record<string, string | string[]>;
  body: Buffer;
}

/** SCF's answer to an integrated response that is not one. */
export const INVALID_RESPONSE: HttpAnswer = {
  status: 502,
  headers: { "content-type": "application/json" },
  body: Buffer.from(
    JSON.stringify({
      errno: 403,
      error: "Invalid scf response format. please check your scf response format.",
    }),
  ),
};

/**
 * The HTTP answer for a function's return value (its JSON, as the shim gives it).
 * Integrated: {statusCode, headers, body, isBase64Encoded} becomes the answer (a header
 * may be an array: a repeated header); anything else is INVALID_RESPONSE. Not integrated:
 * a string is sent as text, any other value as JSON.
 */
export function httpAnswer(resultJson: Buffer, integrated: boolean): HttpAnswer {
  let value: unknown;
  try {
    value = JSON.parse(resultJson.toString("utf8"));
  } catch {
    return integrated
      ? INVALID_RESPONSE
      : { status: 200, headers: { "content-type": "application/json" }, body: resultJson };
  }
  if (!integrated) {
    if (typeof value === "string")
      return {
        status: 200,
        headers: { "content-type": "text/plain; charset=utf-8" },
        body: Buffer.from(value),
      };
    return { status: 200, headers: { "content-type": "application/json" }, body: resultJson };
  }
  if (typeof value !== "object" || value === null || Array.isArray(value)) return INVALID_RESPONSE;
  const r = value as { statusCode?: unknown; headers?: unknown; body?: unknown; isBase64Encoded?: unknown };
  const status = r.statusCode === undefined ? 200 : Number(r.statusCode);
  if (!Number.isInteger(status) || status < 100 || status > 599) return INVALID_RESPONSE;
  const headers: Record<string, string | string[]> = {};
  if (r.headers !== undefined) {
    if (typeof r.headers !== "object" || r.headers === null || Array.isArray(r.headers))
      return INVALID_RESPONSE;
    for (const [k, v] of Object.entries(r.headers)) {
      if (Array.isArray(v)) headers[k] = v.map(String);
      else if (v !== null && v !== undefined) headers[k] = String(v);
    }
  }
  let body: Buffer;
  if (r.body === undefined || r.body === null) body = Buffer.alloc(0);
  else if (typeof r.body === "string")
    body = r.isBase64Encoded === true ? Buffer.from(r.body, "base64") : Buffer.from(r.body);
  else return INVALID_RESPONSE;
  return { status, headers, body };
}
