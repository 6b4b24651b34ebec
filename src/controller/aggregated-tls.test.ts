import assert from "node:assert/strict";
import { X509Certificate } from "node:crypto";
import { describe, it } from "node:test";
import type { V1APIService, V1Secret } from "@kubernetes/client-node";
import { servingCertificate } from "../lib/serving-cert.ts";
import { ensureAggregatedTls, type SecretsApi, tlsPairLoads, trustInApiService } from "./aggregated-tls.ts";

const CERT = "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n";
const BUNDLE = Buffer.from(CERT).toString("base64");

/** An APIService API over one object (or none), recording patches. */
function fakeRegistration(svc: V1APIService | undefined) {
  const patches: unknown[] = [];
  return {
    patches,
    reg: {
      readAPIService: async () => {
        if (!svc) throw Object.assign(new Error("not found"), { code: 404 });
        return svc;
      },
      patchAPIService: async (p: { name: string; body: unknown }) => {
        patches.push(p);
        return svc!;
      },
    },
  };
}

describe("trustInApiService", () => {
  it("an APIService that skips verification gets the certificate as its caBundle, and stops skipping", async () => {
    const { reg, patches } = fakeRegistration({
      spec: { groupPriorityMinimum: 100, versionPriority: 15, insecureSkipTLSVerify: true },
    });
    assert.equal(await trustInApiService(reg as never, CERT), "patched");
    assert.deepEqual(patches, [
      {
        name: "v1alpha1.invoke.updraft.dev",
        body: { spec: { caBundle: BUNDLE, insecureSkipTLSVerify: false } },
      },
    ]);
  });
  // Every controller start runs this: nothing is written when it holds already.
  it("one that trusts it already is left alone", async () => {
    const { reg, patches } = fakeRegistration({
      spec: { groupPriorityMinimum: 100, versionPriority: 15, caBundle: BUNDLE },
    });
    assert.equal(await trustInApiService(reg as never, CERT), "unchanged");
    assert.deepEqual(patches, []);
  });
  it("one that trusts another certificate (an older one) is updated", async () => {
    const { reg, patches } = fakeRegistration({
      spec: { groupPriorityMinimum: 100, versionPriority: 15, caBundle: "b2xk" },
    });
    assert.equal(await trustInApiService(reg as never, CERT), "patched");
    assert.equal(patches.length, 1);
  });
  // The chart's aggregatedApi is off, or the release is still being applied: tried again later.
  it("no APIService: absent, nothing written", async () => {
    const { reg, patches } = fakeRegistration(undefined);
    assert.equal(await trustInApiService(reg as never, CERT), "absent");
    assert.deepEqual(patches, []);
  });
});

/** One Secret in one namespace, with resourceVersions, recording the writes. */
function fakeSecrets(initial: V1Secret | undefined) {
  let stored = initial ? { ...initial, metadata: { ...initial.metadata, resourceVersion: "1" } } : undefined;
  const writes: string[] = [];
  const api: SecretsApi = {
    readNamespacedSecret: async () => {
      if (!stored) throw Object.assign(new Error("not found"), { code: 404 });
      return structuredClone(stored);
    },
    createNamespacedSecret: async ({ body }) => {
      if (stored) throw Object.assign(new Error("exists"), { code: 409 });
      writes.push("create");
      stored = { ...body, metadata: { ...body.metadata, resourceVersion: "1" } };
      return stored;
    },
    replaceNamespacedSecret: async ({ body }) => {
      if (body.metadata?.resourceVersion !== stored?.metadata?.resourceVersion)
        throw Object.assign(new Error("conflict"), { code: 409 });
      writes.push("replace");
      stored = {
        ...body,
        metadata: { ...body.metadata, resourceVersion: String(Number(body.metadata!.resourceVersion) + 1) },
      };
      return stored;
    },
  };
  return { api, writes, stored: () => stored };
}

const b64 = (s: string) => Buffer.from(s).toString("base64");

/**
 * A certificate as an earlier version made about one in 256 times: its serial a zero byte
 * then one under 0x80, which OpenSSL refuses ("illegal padding"). Made from a good one by
 * rewriting the first two bytes of its 16-byte serial (after version [0] 02 01 02, then 02 10).
 */
function zeroPaddedSerial(pem: string): string {
  const der = Buffer.from(pem.replace(/-----[A-Z ]+-----|\s/g, ""), "base64");
  const at = der.indexOf(Buffer.from([0xa0, 0x03, 0x02, 0x01, 0x02, 0x02, 0x10])) + 7;
  der[at] = 0x00;
  der[at + 1] = 0x14;
  const lines = der
    .toString("base64")
    .match(/.{1,64}/g)!
    .join("\n");
  return `-----BEGIN CERTIFICATE-----\n${lines}\n-----END CERTIFICATE-----\n`;
}

describe("ensureAggregatedTls", () => {
  it("no Secret: one is made, and its certificate loads", async () => {
    const f = fakeSecrets(undefined);
    const cert = await ensureAggregatedTls(f.api, "updraft-system");
    assert.deepEqual(f.writes, ["create"]);
    assert.ok(new X509Certificate(cert));
  });
  // Every controller start runs this: a good pair is never replaced.
  it("a Secret whose pair loads is kept as it is", async () => {
    const { key, cert } = servingCertificate(["a.svc"]);
    const f = fakeSecrets({ metadata: { name: "x" }, data: { "tls.crt": b64(cert), "tls.key": b64(key) } });
    assert.equal(await ensureAggregatedTls(f.api, "updraft-system"), cert);
    assert.deepEqual(f.writes, []);
  });
  it("a Secret whose certificate does not load (an earlier version's bad serial) is made again, and the new one is returned", async () => {
    const { key, cert: good } = servingCertificate(["a.svc"]);
    const bad = zeroPaddedSerial(good);
    assert.throws(() => new X509Certificate(bad), /illegal padding|asn1/i);
    const f = fakeSecrets({ metadata: { name: "x" }, data: { "tls.crt": b64(bad), "tls.key": b64(key) } });
    const cert = await ensureAggregatedTls(f.api, "updraft-system");
    assert.deepEqual(f.writes, ["replace"]);
    const data = f.stored()!.data!;
    assert.equal(Buffer.from(data["tls.crt"]!, "base64").toString(), cert);
    assert.ok(
      tlsPairLoads({
        "tls.crt": Buffer.from(data["tls.crt"]!, "base64"),
        "tls.key": Buffer.from(data["tls.key"]!, "base64"),
      }),
    );
  });
});

describe("ensureAggregatedTls with two controllers at once", () => {
  it("both find the bad Secret, one replaces it, and both return the one stored", async () => {
    const { key, cert } = servingCertificate(["a.svc"]);
    const f = fakeSecrets({
      metadata: { name: "x" },
      data: { "tls.crt": b64(zeroPaddedSerial(cert)), "tls.key": b64(key) },
    });
    const [a, b] = await Promise.all([
      ensureAggregatedTls(f.api, "updraft-system"),
      ensureAggregatedTls(f.api, "updraft-system"),
    ]);
    assert.deepEqual(f.writes, ["replace"]);
    assert.equal(a, b);
    assert.equal(a, Buffer.from(f.stored()!.data!["tls.crt"]!, "base64").toString());
  });
});

describe("tlsPairLoads", () => {
  const { key, cert } = servingCertificate(["a.svc"]);
  const other = servingCertificate(["b.svc"]);
  const table: Array<{ why: string; crt: string; key: string; want: boolean }> = [
    { why: "a certificate and its own key", crt: cert, key, want: true },
    { why: "a certificate with another's key does not serve", crt: cert, key: other.key, want: false },
    {
      why: "an unparsable certificate",
      crt: "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n",
      key,
      want: false,
    },
    { why: "no key at all", crt: cert, key: "", want: false },
  ];
  for (const c of table)
    it(c.why, () =>
      assert.equal(tlsPairLoads({ "tls.crt": Buffer.from(c.crt), "tls.key": Buffer.from(c.key) }), c.want),
    );
});
