/**
 * PullCode for `code.url`: the package is streamed to a file under /tmp while its SHA-256
 * is computed (never held in memory: a package may be 500 MB unpacked), checked, and
 * unpacked into the code folder by a library — yauzl for zip, tar for tar.gz — with each
 * file's mode kept (an `scf_bootstrap` stays executable) and no path escaping the folder.
 * A download that fails is tried again with back-off (0.5 s, 1 s, 2 s …, 5 tries); a
 * checksum that differs is refused at once with its code: retrying cannot fix it.
 *
 * The download is undici's fetch from npm on an Agent of its own, not the global fetch or
 * dispatcher (lib/http-client.ts says why: Node.js 24's bundled undici can end the
 * process). It is imported when a package is fetched, so a start without one does not
 * load it.
 */
import { createHash } from "node:crypto";
import { createWriteStream } from "node:fs";
import { chmod, mkdir, mkdtemp, open, rm } from "node:fs/promises";
import { dirname, join, resolve, sep } from "node:path";
import { Readable, Transform } from "node:stream";
import { pipeline } from "node:stream/promises";
import * as tar from "tar";
import yauzl from "yauzl";
import { UpdraftError } from "../lib/errors.ts";
import { shownUrl } from "../lib/url.ts";

export const DOWNLOAD_ATTEMPTS = 5;

export interface PullOptions {
  attempts?: number;
  baseDelayMs?: number;
  /** Sent with the download. */
  headers?: Record<string, string>;
  /** Where the package is staged (default /tmp, the one writable folder). */
  tmpDir?: string;
}

/** Where an instance's code comes from when it is not mounted as files. */
export interface CodeSource {
  /** code.url: downloaded, checked against codeSha256, unpacked. */
  codeUrl?: string;
  /** Headers the download sends (a kept package's instance key). */
  codeHeaders?: Record<string, string>;
  codeSha256?: string;
  /** configMapRef.key: a package file mounted from a ConfigMap, unpacked. */
  codePackage?: string;
}

/** PullCode: brings the package of src into dir; nothing to do for mounted code. */
export async function prepareCode(src: CodeSource, dir: string): Promise<void> {
  if (src.codeUrl)
    await pullCode(
      src.codeUrl,
      src.codeSha256 ?? "",
      dir,
      src.codeHeaders ? { headers: src.codeHeaders } : {},
    );
  else if (src.codePackage) await unpackPackage(src.codePackage, dir);
}

/** Unpacks a zip or tar.gz file into dir (a zip is known by its first four bytes). */
export async function unpackPackage(file: string, dir: string): Promise<void> {
  await mkdir(dir, { recursive: true });
  if (await isZip(file)) await unzip(file, dir);
  else await untar(file, dir);
}

export async function pullCode(
  url: string,
  sha256: string,
  dir: string,
  opts: PullOptions = {},
): Promise<void> {
  const staging = await mkdtemp(join(opts.tmpDir ?? "/tmp", "code-"));
  const file = join(staging, "package");
  try {
    const got = await download(
      url,
      file,
      opts.attempts ?? DOWNLOAD_ATTEMPTS,
      opts.baseDelayMs ?? 500,
      opts.headers ?? {},
    );
    if (sha256 && got !== sha256.toLowerCase())
      throw new UpdraftError(
        "CodeChecksumMismatch",
        `code package ${shownUrl(url)}: sha256 is ${got}, the Function says ${sha256}`,
        {
          permanent: true,
        },
      );
    await unpackPackage(file, dir);
  } finally {
    await rm(staging, { recursive: true, force: true });
  }
}

/** Streams url to file; resolves with the SHA-256 of what was written. */
async function download(
  url: string,
  file: string,
  attempts: number,
  baseDelayMs: number,
  headers: Record<string, string>,
): Promise<string> {
  const { Agent, fetch } = await import("undici");
  const dispatcher = new Agent();
  try {
    let last: unknown;
    for (let i = 0; i < attempts; i++) {
      if (i > 0) await new Promise((r) => setTimeout(r, baseDelayMs * 2 ** (i - 1)));
      try {
        const res = await fetch(url, { headers, dispatcher, signal: AbortSignal.timeout(300_000) });
        if (!res.ok || !res.body) {
          last = new Error(`HTTP ${res.status}`);
          // A client error will not change by asking again.
          if (res.status >= 400 && res.status < 500 && res.status !== 429) break;
          continue;
        }
        const hash = createHash("sha256");
        const hashing = new Transform({
          transform(chunk: Buffer, _enc, cb) {
            hash.update(chunk);
            cb(null, chunk);
          },
        });
        await pipeline(
          Readable.fromWeb(res.body as import("node:stream/web").ReadableStream),
          hashing,
          createWriteStream(file),
        );
        return hash.digest("hex");
      } catch (err) {
        last = err;
      }
    }
    throw new UpdraftError(
      "CodeDownloadFailed",
      `code package ${shownUrl(url)} could not be downloaded: ${String(last)}`,
      {
        cause: last,
      },
    );
  } finally {
    await dispatcher.close();
  }
}

async function isZip(file: string): Promise<boolean> {
  const fh = await open(file, "r");
  try {
    const b = Buffer.alloc(4);
    await fh.read(b, 0, 4, 0);
    return b.readUInt32LE(0) === 0x04034b50; // "PK\x03\x04"
  } finally {
    await fh.close();
  }
}

/** The path of an entry inside dir, or an error when it would land outside it. */
export function safeJoin(dir: string, name: string): string {
  const root = resolve(dir);
  const target = resolve(root, name);
  if (target !== root && !target.startsWith(root + sep))
    throw new UpdraftError(
      "CodePackageInvalid",
      `code package entry ${name} points outside the code folder`,
      {
        permanent: true,
      },
    );
  return target;
}

function unzip(file: string, dir: string): Promise<void> {
  return new Promise((resolvePromise, reject) => {
    yauzl.open(file, { lazyEntries: true, strictFileNames: false }, (err, zip) => {
      if (err || !zip)
        return reject(
          new UpdraftError("CodePackageInvalid", `not a valid zip: ${String(err)}`, { cause: err }),
        );
      // yauzl refuses absolute and ".." entry names itself; safeJoin below checks again.
      zip.on("error", (e: unknown) =>
        reject(
          new UpdraftError("CodePackageInvalid", `code package: ${String(e)}`, { cause: e, permanent: true }),
        ),
      );
      zip.on("end", () => resolvePromise());
      zip.on("entry", (entry: yauzl.Entry) => {
        let target: string;
        try {
          target = safeJoin(dir, entry.fileName);
        } catch (e) {
          zip.close();
          return reject(e);
        }
        // Unix mode in the high bits of the external attributes (0 when the zip came from
        // a system without them: then files get 0644, folders 0755).
        const mode = (entry.externalFileAttributes >>> 16) & 0o777;
        if (entry.fileName.endsWith("/")) {
          mkdir(target, { recursive: true }).then(() => zip.readEntry(), reject);
          return;
        }
        zip.openReadStream(entry, (e2, stream) => {
          if (e2 || !stream) return reject(e2);
          mkdir(dirname(target), { recursive: true })
            .then(() => pipeline(stream, createWriteStream(target)))
            .then(() => chmod(target, mode || 0o644))
            .then(() => zip.readEntry(), reject);
        });
      });
      zip.readEntry();
    });
  });
}

async function untar(file: string, dir: string): Promise<void> {
  try {
    // tar refuses absolute paths and ".." by default (preservePaths false) and keeps modes.
    await tar.x({ file, cwd: dir, strict: true });
  } catch (err) {
    throw new UpdraftError("CodePackageInvalid", `not a valid zip or tar.gz: ${String(err)}`, { cause: err });
  }
}
