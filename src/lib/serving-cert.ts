/**
 * A TLS serving certificate made in memory at start, for a server whose clients do not
 * verify it against a CA (the API server's aggregator, with the APIService's
 * insecureSkipTLSVerify — the hop's identity that matters, the API server's, is checked the
 * other way, by its client certificate). A new one each start: nothing to store or rotate.
 * Example: servingCertificate(["updraft-activator.updraft-system.svc"]) → an RSA-2048 key
 * (Node's own generator) and a self-signed certificate for that name, valid a year.
 */
import { generateKeyPairSync, randomBytes } from "node:crypto";
import forge from "node-forge";

export function servingCertificate(dnsNames: string[], now = new Date()): { key: string; cert: string } {
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
  cert.validity.notAfter = new Date(now.getTime() + 365 * 86_400_000);
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
