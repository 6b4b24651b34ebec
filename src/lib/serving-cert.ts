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

/**
 * A certificate serial number in hex, DER-legal whatever the random bytes: positive (top
 * bit clear) and without a leading zero byte, which DER forbids before a byte under 0x80
 * and OpenSSL refuses ("asn1 encoding routines::illegal padding" — an activator that loaded
 * such a certificate crashed at start). Bit 6 of the first byte is set, so the number has
 * all its bytes. Example: 00 14 97 1e … → 40 14 97 1e …; ff 01 … → 7f 01 ….
 */
export function certificateSerial(random: Buffer): string {
  const b = Buffer.from(random);
  b[0] = (b[0]! & 0x7f) | 0x40;
  return b.toString("hex");
}

export function servingCertificate(
  dnsNames: string[],
  now = new Date(),
  days = 365,
  random: (n: number) => Buffer = randomBytes,
): { key: string; cert: string } {
  const { privateKey, publicKey } = generateKeyPairSync("rsa", {
    modulusLength: 2048,
    publicKeyEncoding: { type: "spki", format: "pem" },
    privateKeyEncoding: { type: "pkcs8", format: "pem" },
  });
  const cert = forge.pki.createCertificate();
  cert.publicKey = forge.pki.publicKeyFromPem(publicKey);
  cert.serialNumber = certificateSerial(random(16));
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
