/**
 * Where the activators keep code packages too large for a ConfigMap (protocol/packages.ts):
 * a bucket of an S3-compatible object store, one object per namespace and SHA-256. An
 * upload is streamed through — never held in memory, a package may be hundreds of MB —
 * while its SHA-256 is computed; bytes that are not the package they claim to be are
 * deleted and refused. Only the activators hold the store's credentials.
 */
import { createHash } from "node:crypto";
import { pipeline, type Readable, Transform } from "node:stream";
import { AwsClient } from "aws4fetch";
import { request } from "undici";
import { UpdraftError } from "../lib/errors.ts";
import { packageObjectKey, type StoredPackage, storedPackageUrl } from "../protocol/packages.ts";

export interface CodeStoreConfig {
  /** The S3 endpoint, e.g. http://10.244.0.1:7070. */
  endpoint: string;
  region: string;
  bucket: string;
  accessKey: string;
  secretKey: string;
  /** The largest package taken (bytes). */
  maxPackageBytes: number;
}

/** A kept package on its way out: its size and its bytes. */
export interface PackageStream {
  /** Its size, when the store said (S3 does). */
  bytes: number | undefined;
  body: Readable;
}

export class CodeStore {
  private readonly cfg: CodeStoreConfig;
  private readonly s3: AwsClient;
  private readonly base: string;

  constructor(cfg: CodeStoreConfig) {
    this.cfg = cfg;
    this.base = `${cfg.endpoint.replace(/\/+$/, "")}/${cfg.bucket}`;
    this.s3 = new AwsClient({
      accessKeyId: cfg.accessKey,
      secretAccessKey: cfg.secretKey,
      service: "s3",
      region: cfg.region,
    });
  }

  get maxPackageBytes(): number {
    return this.cfg.maxPackageBytes;
  }

  /**
   * Signed headers for a request whose body is streamed: the payload is declared unsigned
   * (S3's UNSIGNED-PAYLOAD), as its hash is known only once it has gone.
   */
  private async signed(method: string, url: string, extra: Record<string, string> = {}) {
    const r = await this.s3.sign(url, {
      method,
      headers: { "x-amz-content-sha256": "UNSIGNED-PAYLOAD", ...extra },
    });
    return Object.fromEntries(r.headers);
  }

  /** The bucket's making, once it succeeded; a failure is tried again by the next upload. */
  private bucketMade: Promise<void> | undefined;

  /**
   * The bucket, made when it is not there (an existing one is fine): asked at start and
   * before each upload, so a store that was down when the activator started is not left
   * without its bucket.
   */
  ready(): Promise<void> {
    this.bucketMade ??= this.makeBucket().catch((err: unknown) => {
      this.bucketMade = undefined;
      throw err;
    });
    return this.bucketMade;
  }

  private async makeBucket(): Promise<void> {
    const res = await request(this.base, { method: "PUT", headers: await this.signed("PUT", this.base) });
    const text = await res.body.text();
    if (res.statusCode === 200 || res.statusCode === 409) return;
    throw new UpdraftError(
      "CodeStoreUnavailable",
      `making bucket ${this.cfg.bucket} at ${this.cfg.endpoint}: ${res.statusCode} ${text.slice(0, 200)}`,
    );
  }

  /**
   * Keeps `body` (of `length` bytes) as the package `sha256` of `namespace`. Refused with
   * PackageChecksumMismatch (and nothing kept) when the bytes hash to something else.
   */
  async put(namespace: string, sha256: string, body: Readable, length: number): Promise<StoredPackage> {
    if (length > this.cfg.maxPackageBytes)
      throw new UpdraftError(
        "RequestTooLarge",
        `the package is ${length} bytes; this store takes at most ${this.cfg.maxPackageBytes}`,
      );
    await this.ready().catch((err: unknown) => {
      throw err instanceof UpdraftError
        ? err
        : new UpdraftError("CodeStoreUnavailable", `the code store: ${String(err)}`, { cause: err });
    });
    const url = `${this.base}/${packageObjectKey(namespace, sha256)}`;
    const hash = createHash("sha256");
    let seen = 0;
    const hashing = new Transform({
      transform(chunk: Buffer, _enc, cb) {
        hash.update(chunk);
        seen += chunk.length;
        cb(null, chunk);
      },
    });
    // An upload cut short destroys the store's request too: no partial object is kept.
    pipeline(body, hashing, () => undefined);
    const headers = await this.signed("PUT", url, { "content-length": String(length) });
    let res: Awaited<ReturnType<typeof request>>;
    try {
      res = await request(url, { method: "PUT", headers, body: hashing });
    } catch (err) {
      throw new UpdraftError("CodeStoreUnavailable", `storing the package: ${String(err)}`, { cause: err });
    }
    const text = await res.body.text();
    if (res.statusCode !== 200)
      throw new UpdraftError(
        "CodeStoreUnavailable",
        `storing the package: ${res.statusCode} ${text.slice(0, 200)}`,
      );
    const got = hash.digest("hex");
    if (got !== sha256 || seen !== length) {
      await this.remove(url);
      throw new UpdraftError(
        "PackageChecksumMismatch",
        `the upload's ${seen} bytes have sha256 ${got}, not the ${sha256} it named: nothing was kept`,
        { permanent: true },
      );
    }
    return { url: storedPackageUrl(sha256), sha256, bytes: length };
  }

  /** The package's bytes, or PackageNotFound. */
  async get(namespace: string, sha256: string): Promise<PackageStream> {
    const url = `${this.base}/${packageObjectKey(namespace, sha256)}`;
    let res: Awaited<ReturnType<typeof request>>;
    try {
      res = await request(url, { method: "GET", headers: await this.signed("GET", url) });
    } catch (err) {
      throw new UpdraftError("CodeStoreUnavailable", `reading the package: ${String(err)}`, { cause: err });
    }
    if (res.statusCode === 404) {
      await res.body.dump();
      throw new UpdraftError("PackageNotFound", `no package ${sha256} is kept for namespace ${namespace}`);
    }
    if (res.statusCode !== 200) {
      const text = await res.body.text();
      throw new UpdraftError(
        "CodeStoreUnavailable",
        `reading the package: ${res.statusCode} ${text.slice(0, 200)}`,
      );
    }
    const length = Number(res.headers["content-length"]);
    return { bytes: Number.isInteger(length) && length >= 0 ? length : undefined, body: res.body };
  }

  private async remove(url: string): Promise<void> {
    const res = await request(url, { method: "DELETE", headers: await this.signed("DELETE", url) }).catch(
      () => undefined,
    );
    await res?.body.dump();
  }
}
