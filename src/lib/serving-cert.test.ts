import assert from "node:assert/strict";
import { X509Certificate } from "node:crypto";
import { describe, it } from "node:test";
import { certificateSerial, servingCertificate } from "./serving-cert.ts";

describe("certificateSerial: DER-legal whatever the random bytes", () => {
  const table: Array<{ why: string; random: string; want: string }> = [
    {
      why: "a leading zero byte would be illegal padding before 0x14: it becomes 0x40",
      random: "0014971edc3b99dd",
      want: "4014971edc3b99dd",
    },
    { why: "a top bit set would make it negative: it is cleared", random: "ff01", want: "7f01" },
    { why: "a first byte of 0x80 (top bit alone) is neither", random: "8000", want: "4000" },
    { why: "the other bytes are kept as they came", random: "4100ff", want: "4100ff" },
  ];
  for (const c of table)
    it(c.why, () => assert.equal(certificateSerial(Buffer.from(c.random, "hex")), c.want));
});

describe("servingCertificate", () => {
  it("a certificate whose random serial starts with a zero byte still parses (an activator crashed on one)", () => {
    const zeroFirst = (n: number) => Buffer.concat([Buffer.from([0x00, 0x14]), Buffer.alloc(n - 2, 0x97)]);
    const { cert } = servingCertificate(["updraft-activator.updraft-system.svc"], new Date(), 1, zeroFirst);
    const x = new X509Certificate(cert);
    assert.equal(x.serialNumber, `4014${"97".repeat(14)}`.toUpperCase());
    assert.match(x.subjectAltName ?? "", /DNS:updraft-activator\.updraft-system\.svc/);
  });
});
