/**
 * A self-signed TLS serving certificate for the activators' aggregated API: the controller
 * makes it once into a Secret that every activator serves, and puts it in the APIService's
 * caBundle, so the API server verifies whom it proxies to (a self-signed certificate in the
 * trusted pool is its own root).
 * Example: servingCertificate(["updraft-activator.updraft-system.svc"]) → an RSA-2048 key
 * (Node's own generator) and a certificate for that name, valid `days` (a year by default).
 */
import { generateKeyPairSync, randomBytes } from "node:crypto";
import forge from "node-forge";

export function servingCertificate(
  dnsNames: string[],
  now = new Date(),
  days = 365,
): { key: string; cert: string } {
  const { privateKey, publicKey } = generateKeyPairSync("rsa", {
    modulusLength: 2048,
    publicKeyEncoding: { type: "spki", format: "pem" },
    privateKeyEncoding: { type: "pkcs8", format: "pem" },
  });
  const cert = forge.pki.createCertificate();
  cert.publicKey = forge.pki.publicKeyFromPem(publicKey);
  // Positive: the top bit clear.
  cert.serialNumber = `0${randomBytes(8).toString("hex")}`;
  cert.validity.notBefore = new Date(now.getTime() - 60_000);
  cert.validity.notAfter = new Date(now.getTime() + days * 86_400_000);
  const subject = [{ name: "commonName", value: dnsNames[0] }];
  cert.setSubject(subject);
  cert.setIssuer(subject);
  cert.setExtensions([
    { name: "basicConstraints", cA: false },
    { name: "keyUsage", digitalSignature: true, keyEncipherment: true },
    { name: "extKeyUsage", serverAuth: true },
    { name: "subjectAltName", altNames: dnsNames.map((value) => ({ type: 2, value })) },
  ]);
  cert.sign(forge.pki.privateKeyFromPem(privateKey), forge.md.sha256.create());
  return { key: privateKey, cert: forge.pki.certificateToPem(cert) };
}
