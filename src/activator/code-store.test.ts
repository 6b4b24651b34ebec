import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { createServer, type Server } from "node:http";
import { Readable } from "node:stream";
import { after, before, describe, it } from "node:test";
import { CodeStore } from "./code-store.ts";

/**
 * A stand-in for the S3 endpoint, for the store's own logic (the real one, versitygw, is in
 * test/integration/cli.test.ts): buckets and objects in memory; `failBucketPuts` bucket
 * creations answer 500 first.
 */
class FakeS3 {
  readonly buckets = new Set<string>();
  readonly objects = new Map<string, Buffer>();
  failBucketPuts = 0;
  private server: Server | undefined;
  port = 0;

  async start(): Promise<void> {
    this.server = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on("data", (c: Buffer) => chunks.push(c));
      req.on("end", () => {
        const path = decodeURIComponent((req.url ?? "/").split("?")[0]!).slice(1);
        const [bucket, ...rest] = path.split("/");
        const key = rest.join("/");
        // Sized, as S3 answers.
        const answer = (status: number, body: Buffer | string = "") =>
          res.writeHead(status, { "content-length": Buffer.byteLength(body) }).end(body);
        if (!key) {
          if (req.method !== "PUT") return answer(405);
          if (this.failBucketPuts > 0) {
            this.failBucketPuts--;
            return answer(500, "<Error>down</Error>");
          }
          if (this.buckets.has(bucket!)) return answer(409, "<Error>BucketAlreadyOwnedByYou</Error>");
          this.buckets.add(bucket!);
          return answer(200);
        }
        if (!this.buckets.has(bucket!)) return answer(404, "<Error>NoSuchBucket</Error>");
        if (req.method === "PUT") {
          this.objects.set(path, Buffer.concat(chunks));
          return answer(200);
        }
        if (req.method === "GET") {
          const o = this.objects.get(path);
          return o ? answer(200, o) : answer(404, "<Error>NoSuchKey</Error>");
        }
        if (req.method === "DELETE") {
          this.objects.delete(path);
          return answer(204);
        }
        return answer(405);
      });
    });
    await new Promise<void>((r) => this.server!.listen(0, "127.0.0.1", () => r()));
    this.port = (this.server!.address() as { port: number }).port;
  }

  stop(): void {
    this.server?.close();
  }
}

const sha = (b: Buffer) => createHash("sha256").update(b).digest("hex");
const bytes = Buffer.from("PK\x03\x04 a package");

describe("CodeStore", () => {
  const s3 = new FakeS3();
  const store = () =>
    new CodeStore({
      endpoint: `http://127.0.0.1:${s3.port}`,
      region: "us-east-1",
      bucket: "updraft-code",
      accessKey: "a",
      secretKey: "s",
      maxPackageBytes: 1024,
    });
  before(() => s3.start());
  after(() => s3.stop());

  it("keeps a package under its namespace and SHA-256, and gives it back byte for byte", async () => {
    const st = store();
    const kept = await st.put("demo", sha(bytes), Readable.from([bytes]), bytes.length);
    assert.deepEqual(kept, {
      url: `updraft:packages/${sha(bytes)}`,
      sha256: sha(bytes),
      bytes: bytes.length,
    });
    assert.ok(s3.objects.has(`updraft-code/demo/${sha(bytes)}.pkg`));
    const got = await st.get("demo", sha(bytes));
    const chunks: Buffer[] = [];
    for await (const c of got.body) chunks.push(c as Buffer);
    assert.deepEqual(Buffer.concat(chunks), bytes);
    assert.equal(got.bytes, bytes.length);
  });
  // The bytes went to the store before their hash was known: they must not stay there.
  it("bytes that are not the package they name are refused, and nothing is kept", async () => {
    const claimed = sha(Buffer.from("another package"));
    await assert.rejects(store().put("demo", claimed, Readable.from([bytes]), bytes.length), {
      code: "PackageChecksumMismatch",
    });
    assert.ok(!s3.objects.has(`updraft-code/demo/${claimed}.pkg`));
  });
  it("another namespace's package is not found under this one", async () => {
    await assert.rejects(store().get("other", sha(bytes)), { code: "PackageNotFound" });
  });
  it("over maxPackageBytes: refused before anything is sent", async () => {
    const before = s3.objects.size;
    await assert.rejects(store().put("demo", sha(bytes), Readable.from([bytes]), 2048), {
      code: "RequestTooLarge",
    });
    assert.equal(s3.objects.size, before);
  });
  // Seen possible: the store down while the activators start; the first upload must not
  // then fail for want of the bucket.
  it("a bucket that could not be made at start is made by the next upload", async () => {
    s3.buckets.clear();
    s3.failBucketPuts = 1;
    const st = store();
    await assert.rejects(st.ready(), { code: "CodeStoreUnavailable" });
    const kept = await st.put("demo", sha(bytes), Readable.from([bytes]), bytes.length);
    assert.equal(kept.sha256, sha(bytes));
    assert.ok(s3.buckets.has("updraft-code"));
  });
});
