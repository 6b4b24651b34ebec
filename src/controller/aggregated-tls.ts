/**
 * The aggregated API's TLS (docs/security.md): the API server proxies the invoke API to the
 * activators and must know it is talking to them. The controller makes one self-signed
 * serving certificate into a Secret of Updraft's namespace (once; every activator serves
 * it) and writes it into the APIService's caBundle, so the API server verifies it instead of
 * skipping verification. Valid ten years; deleting the Secret and restarting the
 * controller and then the activators makes a new one.
 */

import { createPrivateKey, X509Certificate } from "node:crypto";
import type { ApiregistrationV1Api, CoreV1Api } from "@kubernetes/client-node";
import { PatchStrategy, setHeaderOptions } from "@kubernetes/client-node";
import { isConflict, isNotFound } from "../lib/errors.ts";
import { decodeSecretData, encodeSecretData, ensureSecret } from "../lib/master-key.ts";
import { servingCertificate } from "../lib/serving-cert.ts";
import { AGGREGATED_TLS_SECRET, APISERVICE_NAME, aggregatedServingNames } from "../protocol/aggregated.ts";

const TEN_YEARS_DAYS = 3650;

/** A Secret's TLS pair made now. */
function makeTls(namespace: string): Record<string, Buffer> {
  const { key, cert } = servingCertificate(aggregatedServingNames(namespace), new Date(), TEN_YEARS_DAYS);
  return { "tls.crt": Buffer.from(cert), "tls.key": Buffer.from(key) };
}

/**
 * Whether a Secret's pair loads as a TLS server would load it. An earlier version made, about
 * once in 256 installs, a certificate whose serial OpenSSL refuses ("illegal padding"): the
 * activators serving it crashed at every start, for good.
 */
export function tlsPairLoads(data: Record<string, Buffer>): boolean {
  try {
    const cert = new X509Certificate(data["tls.crt"] ?? "");
    return cert.checkPrivateKey(createPrivateKey(data["tls.key"] ?? ""));
  } catch {
    return false;
  }
}

/** What ensureAggregatedTls needs of the Secrets API. */
export type SecretsApi = Pick<
  CoreV1Api,
  "readNamespacedSecret" | "createNamespacedSecret" | "replaceNamespacedSecret"
>;

/**
 * The serving certificate (PEM), made if there is none yet, and made again if the one there
 * does not load. The check and the replacement are of one read, and the replacement names
 * that read's version: of two controllers at it at once, the second's write is refused (409)
 * and it reads again — a pair that loads now, the first one's, which both then return.
 */
export async function ensureAggregatedTls(core: SecretsApi, namespace: string): Promise<string> {
  const ref = { namespace, name: AGGREGATED_TLS_SECRET };
  await ensureSecret(core as CoreV1Api, ref, () => makeTls(namespace));
  for (let attempt = 0; ; attempt++) {
    const stored = await core.readNamespacedSecret(ref);
    const data = decodeSecretData(stored.data);
    if (tlsPairLoads(data)) return data["tls.crt"]!.toString();
    // Two refusals in a row would mean the Secret keeps changing under us: say so.
    if (attempt === 2) throw new Error(`Secret ${namespace}/${AGGREGATED_TLS_SECRET} keeps changing`);
    stored.data = encodeSecretData(makeTls(namespace));
    try {
      await core.replaceNamespacedSecret({ ...ref, body: stored });
    } catch (err) {
      if (!isConflict(err)) throw err;
    }
  }
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
