/**
 * The aggregated API's TLS (docs/security.md): the API server proxies the invoke API to the
 * activators and must know it is talking to them. The controller makes one self-signed
 * serving certificate into a Secret of Updraft's namespace (once; every activator serves
 * it) and writes it into the APIService's caBundle, so the API server verifies it instead of
 * skipping verification. Valid ten years; deleting the Secret and restarting the
 * controller and then the activators makes a new one.
 */
import type { ApiregistrationV1Api, CoreV1Api } from "@kubernetes/client-node";
import { PatchStrategy, setHeaderOptions } from "@kubernetes/client-node";
import { isNotFound } from "../lib/errors.ts";
import { ensureSecret } from "../lib/master-key.ts";
import { servingCertificate } from "../lib/serving-cert.ts";
import { AGGREGATED_TLS_SECRET, APISERVICE_NAME, aggregatedServingNames } from "../protocol/aggregated.ts";

const TEN_YEARS_DAYS = 3650;

/** The serving certificate (PEM), made if there is none yet. */
export async function ensureAggregatedTls(core: CoreV1Api, namespace: string): Promise<string> {
  const data = await ensureSecret(core, { namespace, name: AGGREGATED_TLS_SECRET }, () => {
    const { key, cert } = servingCertificate(aggregatedServingNames(namespace), new Date(), TEN_YEARS_DAYS);
    return { "tls.crt": Buffer.from(cert), "tls.key": Buffer.from(key) };
  });
  const cert = data["tls.crt"];
  if (!cert) throw new Error(`Secret ${namespace}/${AGGREGATED_TLS_SECRET} has no tls.crt`);
  return cert.toString();
}

const mergePatch = setHeaderOptions("Content-Type", PatchStrategy.MergePatch);

/**
 * Makes the APIService trust `certPem`: "unchanged" when its caBundle holds it already,
 * "absent" when there is no APIService (the chart's aggregatedApi is off, or not applied
 * yet), else "patched".
 */
export async function trustInApiService(
  reg: Pick<ApiregistrationV1Api, "readAPIService" | "patchAPIService">,
  certPem: string,
): Promise<"unchanged" | "absent" | "patched"> {
  const bundle = Buffer.from(certPem).toString("base64");
  try {
    const svc = await reg.readAPIService({ name: APISERVICE_NAME });
    if (svc.spec?.caBundle === bundle && !svc.spec?.insecureSkipTLSVerify) return "unchanged";
  } catch (err) {
    if (isNotFound(err)) return "absent";
    throw err;
  }
  await reg.patchAPIService(
    { name: APISERVICE_NAME, body: { spec: { caBundle: bundle, insecureSkipTLSVerify: false } } },
    mergePatch,
  );
  return "patched";
}
