/**
 * Code packages of the conformance functions that need a build — the Go binary (zipped, for
 * code.url) and the Java jar (for a ConfigMap's binaryData) — made with the machine's Go
 * and JDK, and a server on the node's bridge that pods download packages from.
 */
import { execFileSync } from "node:child_process";
import { createHash } from "node:crypto";
import { readFileSync } from "node:fs";
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import { join } from "node:path";
import { HOST_IP, ROOT } from "../integration/harness.ts";
import { tempDir } from "../support/temp-dir.ts";

export const FUNCTIONS = join(ROOT, "test/conformance/functions");

export interface Packages {
  /** The Go conformance function's binary `main`, zipped. */
  goZip: Buffer;
  /** The Java conformance classes, as a jar without com.qcloud.scf.runtime (the runtime's). */
  javaJar: Buffer;
}

export function buildPackages(): Packages {
  const out = tempDir("conformance");
  execFileSync("go", ["build", "-trimpath", "-ldflags=-s -w", "-o", join(out, "go/main"), "."], {
    cwd: join(FUNCTIONS, "go"),
    env: { ...process.env, CGO_ENABLED: "0", GOFLAGS: "-mod=mod", GOPROXY: "off", GOWORK: "off" },
    stdio: "inherit",
  });
  execFileSync("zip", ["-qj", join(out, "go.zip"), join(out, "go/main")]);
  // Compiled against the runtime's own com.qcloud.scf.runtime.Context source, as users
  // compile against scf-java-events.
  const classes = join(out, "java");
  execFileSync("javac", [
    "--release",
    "17",
    "-d",
    classes,
    join(ROOT, "runtimes/java/src/main/java/com/qcloud/scf/runtime/Context.java"),
    join(FUNCTIONS, "java/conformance/Handler.java"),
  ]);
  execFileSync("jar", ["cf", join(out, "conformance.jar"), "-C", classes, "conformance"]);
  return { goZip: readFileSync(join(out, "go.zip")), javaJar: readFileSync(join(out, "conformance.jar")) };
}

export const sha256 = (b: Buffer) => createHash("sha256").update(b).digest("hex");

/**
 * Serves `files` by name (GET /<name>) on the node's bridge, where pods reach this machine;
 * other requests go to `onPost`. Resolves with the server and its base URL.
 */
export async function servePackages(
  files: Map<string, Buffer>,
  onPost: (req: IncomingMessage, res: ServerResponse) => void = (_req, res) => res.writeHead(405).end(),
): Promise<{ server: Server; url: string }> {
  const server = createServer((req, res) => {
    if (req.method !== "GET") return onPost(req, res);
    const body = files.get((req.url ?? "").slice(1));
    res.writeHead(body ? 200 : 404).end(body);
  });
  await new Promise<void>((r) => server.listen(0, HOST_IP, () => r()));
  return { server, url: `http://${HOST_IP}:${(server.address() as { port: number }).port}` };
}
