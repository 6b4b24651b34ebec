/**
 * updraft deploy [dir]: a directory made into a Function and applied, then waited for.
 *
 * The Function is the directory's function.yaml (what `updraft init` wrote), else its
 * serverless.yaml of SCF's (serverless-yaml.ts), else SCF's application template, config.json
 * (scf-template.ts), else one made from --name, --runtime and --handler; the flags win over
 * any file. The handler's file is looked for before anything is applied (checkHandler). Its
 * code is the directory, packaged the smallest way that holds it (choosePackaging):
 * - inline in the manifest: at most 32 plain-named text files of 256 KiB, 1,000,000 bytes
 *   in all (what the controller's ConfigMap holds);
 * - else a tar.gz in a ConfigMap of its own (≤ 1,000,000 bytes), named by the package's
 *   hash, so a new package is a new spec and rolls the instances; the Function owns it;
 * - else uploaded to the code store the chart configures (codeStore), through the invoke
 *   API, and referred to as code.url updraft:packages/<sha256>; without a code store,
 *   refused, saying how to serve it at a URL of one's own (code.url + sha256).
 * Go (a go.mod) is built first into the one binary `main`; Java (a pom.xml) with Maven into
 * its jar, which is the package.
 */
import { execFileSync } from "node:child_process";
import { createHash } from "node:crypto";
import { existsSync, readdirSync, readFileSync, realpathSync, statSync } from "node:fs";
import { basename, isAbsolute, join, relative, resolve } from "node:path";
import { parseArgs } from "node:util";
import {
  CoreV1Api,
  CustomObjectsApi,
  type KubeConfig,
  PatchStrategy,
  setHeaderOptions,
} from "@kubernetes/client-node";
import yaml from "js-yaml";
import { create as tarCreate } from "tar";
import {
  API_VERSION,
  CONFIGMAP_PACKAGE_LIMIT_BYTES,
  FUNCTIONS,
  type FunctionCode,
  GROUP,
  INLINE_CODE_LIMIT_BYTES,
  INLINE_FILE_NAME,
  INLINE_MAX_FILE_BYTES,
  INLINE_MAX_FILES,
  Labels,
  TRIGGERS,
  type UpdraftFunction,
  type UpdraftTrigger,
  unservable,
  VERSION,
} from "../api/v1alpha1.ts";
import { packageUploadPath, type StoredPackage } from "../protocol/packages.ts";
import { handlerFiles } from "./handler-file.ts";
import { FUNCTION_NAME, isRuntime } from "./scaffold.ts";
import { fromScfTemplate, readScfTemplate } from "./scf-template.ts";
import { fromServerlessYaml } from "./serverless-yaml.ts";
import { caller, explainUnauthenticated, namespaceOf, requireKubeConfig } from "./transport.ts";
import { USAGE } from "./usage.ts";

export interface CodeFile {
  /** Path relative to the directory, "/"-separated. */
  path: string;
  bytes: Buffer;
}

export type Packaging = { kind: "inline"; inline: Record<string, string> } | { kind: "archive"; why: string };

/**
 * Inline when every file fits the manifest (plain name, UTF-8 text, ≤ 256 KiB, ≤ 32 files,
 * ≤ 1,000,000 bytes with their names); else an archive, and why.
 * Example: index.py and lib/util.py → archive ("lib/util.py is in a subdirectory").
 */
export function choosePackaging(files: CodeFile[]): Packaging {
  if (files.length > INLINE_MAX_FILES)
    return { kind: "archive", why: `${files.length} files, over ${INLINE_MAX_FILES}` };
  const inline: Record<string, string> = {};
  let total = 0;
  for (const f of files) {
    if (!INLINE_FILE_NAME.test(f.path)) return { kind: "archive", why: `${f.path} is not a plain file name` };
    if (f.bytes.length > INLINE_MAX_FILE_BYTES)
      return { kind: "archive", why: `${f.path} is over ${INLINE_MAX_FILE_BYTES} bytes` };
    const text = f.bytes.toString("utf8");
    if (!Buffer.from(text, "utf8").equals(f.bytes))
      return { kind: "archive", why: `${f.path} is not UTF-8 text` };
    inline[f.path] = text;
    total += f.bytes.length + Buffer.byteLength(f.path);
  }
  if (total > INLINE_CODE_LIMIT_BYTES)
    return { kind: "archive", why: `${total} bytes, over ${INLINE_CODE_LIMIT_BYTES}` };
  if (files.length === 0) return { kind: "archive", why: "no files" };
  return { kind: "inline", inline };
}

/**
 * The files of a function's directory: all but function.yaml, the dot-files at its top
 * (.git, .env, .serverless…) and any .git below. Dot-files deeper down are the code's own and
 * go with it: a Python wheel keeps its shared libraries in PIL/.libs, and without them
 * `import PIL` fails ("libjpeg-….so: cannot open shared object file"), as SCF's Thumbnail
 * samples did. A symbolic link to a file inside the directory goes too (a shared library's
 * soname link: sharp's vendor/lib/libvips-cpp.so.42 → libvips-cpp.so.42.12.1), as a link in
 * a tar.gz and as the file's bytes inline; a link out of the directory or to a directory
 * does not (the first would pack a file of this machine, the second could loop).
 */
export function codeFiles(dir: string): CodeFile[] {
  const out: CodeFile[] = [];
  const root = realpathSync(dir);
  const walk = (d: string) => {
    for (const e of readdirSync(d, { withFileTypes: true })) {
      if (d === dir ? e.name.startsWith(".") : e.name === ".git") continue;
      const full = join(d, e.name);
      const path = relative(dir, full).split("\\").join("/");
      if (e.isDirectory()) walk(full);
      else if (e.isFile() && !(d === dir && e.name === "function.yaml"))
        out.push({ path, bytes: readFileSync(full) });
      else if (e.isSymbolicLink()) {
        const target = linkedFileInside(full, root);
        if (target) out.push({ path, bytes: readFileSync(target) });
      }
    }
  };
  walk(dir);
  return out.sort((a, b) => a.path.localeCompare(b.path));
}

/** The file a symbolic link leads to when it is a regular file under root; else undefined. */
function linkedFileInside(link: string, root: string): string | undefined {
  try {
    const target = realpathSync(link);
    const inside = relative(root, target);
    if (inside === "" || inside.startsWith("..") || isAbsolute(inside)) return undefined;
    return statSync(target).isFile() ? target : undefined;
  } catch {
    return undefined; // dangling
  }
}

const sha256 = (b: Buffer) => createHash("sha256").update(b).digest("hex");

/**
 * A tar.gz of `paths` under `dir`, modes kept (a Go binary or a bootstrap stays executable).
 * A link among them is packed as the file it leads to (codeFiles let in only links to files
 * inside the directory), as `zip -r` packs SCF's packages: an absolute link would lead
 * nowhere in the instance.
 */
export function tarGz(dir: string, paths: string[]): Buffer {
  const chunks: Buffer[] = [];
  const stream = tarCreate({ gzip: true, cwd: dir, portable: true, sync: true, follow: true }, paths);
  stream.on("data", (c: Buffer) => chunks.push(c));
  return Buffer.concat(chunks);
}

interface Built {
  /** The package's name in its ConfigMap, and its bytes; or undefined: decide from the files. */
  archive?: { key: string; bytes: Buffer };
  files: CodeFile[];
}

/** Go and Java need a build; the others are their files. */
function build(dir: string, runtime: string): Built {
  if (runtime === "go1" && existsSync(join(dir, "go.mod"))) {
    console.error("building main (go build, linux/amd64) …");
    // -mod=mod: a fresh scaffold's go.mod gets its requirements (scf-go-lib) on the way.
    execFileSync("go", ["build", "-mod=mod", "-trimpath", "-ldflags=-s -w", "-o", "main", "."], {
      cwd: dir,
      env: { ...process.env, GOOS: "linux", GOARCH: "amd64", CGO_ENABLED: "0" },
      stdio: ["ignore", "inherit", "inherit"],
    });
    return { archive: { key: "code.tar.gz", bytes: tarGz(dir, ["main"]) }, files: [] };
  }
  if (runtime.startsWith("java") && existsSync(join(dir, "pom.xml"))) {
    console.error("building the jar (mvn package) …");
    execFileSync("mvn", ["-q", "-B", "package"], { cwd: dir, stdio: ["ignore", "inherit", "inherit"] });
    const target = join(dir, "target");
    const jars = readdirSync(target)
      .filter((f) => f.endsWith(".jar") && !/-(sources|javadoc|tests)\.jar$/.test(f))
      .sort((a, b) => statSync(join(target, b)).size - statSync(join(target, a)).size);
    if (!jars[0]) throw new Error("mvn package made no jar in target/");
    return { archive: { key: "code.jar", bytes: readFileSync(join(target, jars[0])) }, files: [] };
  }
  return { files: codeFiles(dir) };
}

/**
 * The Function to deploy — function.yaml's, serverless.yaml's, SCF's template's (config.json)
 * or one made from the flags — the Triggers that come with it (function.yaml's Trigger
 * documents, the SCF files' timer and API gateway events) and the folder its code is in; or
 * why it cannot be deployed, before anything is applied.
 */
export function baseFunction(
  dir: string,
  flags: {
    name?: string | undefined;
    runtime?: string | undefined;
    handler?: string | undefined;
    "credentials-secret"?: string | undefined;
  },
  note: (line: string) => void = (line) => console.error(line),
): { fn: UpdraftFunction; triggers: UpdraftTrigger[]; codeDir: string } | string {
  const manifestPath = join(dir, "function.yaml");
  // The framework reads serverless.yml too.
  const serverlessPath =
    ["serverless.yaml", "serverless.yml"].map((f) => join(dir, f)).find((f) => existsSync(f)) ??
    join(dir, "serverless.yaml");
  const templatePath = join(dir, "config.json");
  const template = existsSync(templatePath) ? readScfTemplate(readFileSync(templatePath, "utf8")) : undefined;
  // A config.json that is not SCF's template (another tool's) is not read.
  const scfTemplate = typeof template === "object" ? template : undefined;
  let fn: UpdraftFunction;
  let triggersFor: (name: string) => UpdraftTrigger[] | string = () => [];
  /** Where the handler was read from, for what deploy says of it. */
  let handlerFrom = "from function.yaml";
  /** The folder whose files are the code: dir, or the src serverless.yaml names in it. */
  let codeDir = dir;
  /** The template's handler, to stand in for serverless.yaml's when that one's file is missing. */
  let templateHandler: string | undefined;
  if (existsSync(manifestPath)) {
    const docs = yaml.loadAll(readFileSync(manifestPath, "utf8")) as Array<{ kind?: string } | null>;
    const found = docs.filter((d) => d?.kind === "Function") as UpdraftFunction[];
    if (found.length !== 1)
      return `${manifestPath} holds ${found.length === 0 ? "no Function" : `${found.length} Functions`}: deploy takes one`;
    fn = found[0]!;
    const triggers = docs.filter((d) => d?.kind === "Trigger") as UpdraftTrigger[];
    // Nothing in the file is passed over in silence.
    const other = docs.filter((d) => d && d.kind !== "Function" && d.kind !== "Trigger");
    if (other.length)
      return `${manifestPath} holds a ${other[0]!.kind ?? "document without a kind"}: deploy applies one Function and its Triggers (use kubectl apply for the rest)`;
    triggersFor = () => triggers;
  } else if (existsSync(serverlessPath)) {
    // A folder made for SCF: its serverless.yaml says what the Function is.
    const read = fromServerlessYaml(readFileSync(serverlessPath, "utf8"), flags.runtime);
    if (typeof read === "string") return read;
    fn = read.fn;
    fn.metadata.name ??= basename(dir);
    triggersFor = read.triggersFor;
    handlerFrom = "from serverless.yaml";
    if (typeof scfTemplate?.handler === "string") templateHandler = scfTemplate.handler;
    for (const line of read.notes) note(line);
    if (read.src !== undefined) codeDir = srcFolder(dir, read.src, note);
  } else if (scfTemplate) {
    // SCF's template only (some of SCF's samples have no serverless.yaml).
    const read = fromScfTemplate(scfTemplate, flags.runtime);
    if (typeof read === "string") return read;
    fn = read.fn;
    fn.metadata.name ??= basename(dir);
    triggersFor = read.triggersFor;
    handlerFrom = "from config.json";
    for (const line of read.notes) note(line);
  } else {
    if (!flags.runtime) return `no function.yaml in ${dir}: give --runtime (and --name, --handler)`;
    fn = {
      apiVersion: API_VERSION,
      kind: "Function",
      metadata: { name: flags.name ?? basename(dir) },
      spec: { runtime: flags.runtime, code: {} } as UpdraftFunction["spec"],
    };
    // SCF's defaults: a custom runtime's bootstrap gets index.main_handler in _HANDLER too
    // (SCF's own custom-runtime samples source "$(echo $_HANDLER | cut -d. -f1).sh").
    fn.spec.handler = flags.handler ?? (flags.runtime === "go1" ? "main" : "index.main_handler");
    handlerFrom = "SCF's default";
  }
  if (flags.name) fn.metadata.name = flags.name;
  if (flags.runtime) fn.spec.runtime = flags.runtime as UpdraftFunction["spec"]["runtime"];
  if (flags.handler) {
    fn.spec.handler = flags.handler;
    handlerFrom = "from --handler";
    templateHandler = undefined; // asked for: never replaced
  }
  // A role's keys, which no SCF file can name (the flag, kept by every deploy, where a
  // kubectl patch of the Function would be undone by the next one).
  const credentialsSecret = flags["credentials-secret"];
  if (credentialsSecret) fn.spec.tencentCloud = { ...fn.spec.tencentCloud, credentialsSecret };
  if (!isRuntime(String(fn.spec.runtime))) return `unknown runtime "${fn.spec.runtime}"`;
  if (!FUNCTION_NAME.test(fn.metadata.name ?? ""))
    return `"${fn.metadata.name}" is not a Function name (lower-case letters, digits and "-"): give --name`;
  const missing = checkHandler(codeDir, fn, handlerFrom, templateHandler, note);
  if (missing) return missing;
  const triggers = triggersFor(fn.metadata.name as string);
  if (typeof triggers === "string") return triggers;
  return { fn, triggers, codeDir };
}

/**
 * The code's folder for serverless.yaml's src: that folder when it is there, else — as some
 * of SCF's samples say src: ./src with their code beside serverless.yaml — the folder itself,
 * with a note (the handler's file is then looked for there, so a wrong guess is refused).
 */
function srcFolder(dir: string, src: string, note: (line: string) => void): string {
  const full = resolve(dir, src);
  if (full === resolve(dir)) return dir; // ./ or .
  if (existsSync(full) && statSync(full).isDirectory()) {
    note(`code from ${src}, as serverless.yaml's src says`);
    return full;
  }
  note(`serverless.yaml's src ${src} is not in ${dir}: the code is the folder itself`);
  return dir;
}

/**
 * Whether the handler's file is in the folder (for the runtimes that load one by its name),
 * or why not; nothing is applied when it is not — every call would be 437 HandlerNotFound.
 * A serverless.yaml's handler that names a missing file gives way to `alternative`, SCF's
 * template's (config.json), when that one's file is there, as many of SCF's samples need:
 * their serverless.yaml says apigw.main_handler beside index.php, their template
 * index.main_handler.
 */
function checkHandler(
  dir: string,
  fn: UpdraftFunction,
  handlerFrom: string,
  alternative: string | undefined,
  note: (line: string) => void,
): string | undefined {
  const handler = fn.spec.handler;
  if (handler === undefined) return undefined; // the CRD says whether one is needed
  const isFile = (f: string) => {
    try {
      return statSync(join(dir, f)).isFile();
    } catch {
      return false;
    }
  };
  const wanted = handlerFiles(fn.spec.runtime, handler, fn.spec.type === "Web");
  if (!wanted || wanted.some(isFile)) return undefined;
  const alternativeFile = alternative ? handlerFiles(fn.spec.runtime, alternative)?.find(isFile) : undefined;
  if (alternative && alternativeFile) {
    note(
      `serverless.yaml's handler ${handler} needs ${wanted[0]}, which ${dir} does not have; config.json (SCF's template) names ${alternative}, in ${alternativeFile}: deploying with that`,
    );
    fn.spec.handler = alternative;
    return undefined;
  }
  const ext = /\.[a-z]+$/.exec(wanted[0] ?? "")?.[0] ?? "";
  const there = readdirSync(dir).filter((f) => ext && f.endsWith(ext) && isFile(f));
  const functionName = handler.slice(handler.lastIndexOf(".") + 1);
  const hint =
    there.length > 0
      ? ` (${dir} has ${there.slice(0, 3).join(", ")}: e.g. --handler ${there[0]!.slice(0, -ext.length)}.${functionName})`
      : "";
  return `the handler ${handler} (${handlerFrom}) needs ${wanted[0]}, which is not in ${dir}: every call would be 437 HandlerNotFound. Give --handler <file>.<function>${hint}`;
}

export async function deploy(args: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args,
    allowPositionals: true,
    options: {
      namespace: { type: "string", short: "n" },
      name: { type: "string" },
      runtime: { type: "string" },
      handler: { type: "string" },
      "credentials-secret": { type: "string" },
      wait: { type: "string", default: "120s" },
      "no-wait": { type: "boolean", default: false },
    },
  });
  const dir = positionals[0] ?? ".";
  if (!existsSync(dir) || !statSync(dir).isDirectory()) {
    console.error(`updraft: ${dir} is not a directory\n\n${USAGE.deploy}`);
    return 2;
  }
  const waitS = /^(\d+)s$/.exec(values.wait ?? "")?.[1];
  if (waitS === undefined) {
    console.error(`updraft: --wait ${values.wait}: seconds, such as 120s`);
    return 2;
  }
  const base = baseFunction(dir, values);
  if (typeof base === "string") {
    console.error(`updraft: ${base}`);
    return 2;
  }
  const { fn, triggers, codeDir } = base;
  const kc = requireKubeConfig();
  if (!kc) return 2;
  const namespace = namespaceOf(values.namespace, kc);
  const name = fn.metadata.name as string;

  const built = build(codeDir, fn.spec.runtime);
  let code: FunctionCode;
  let archive = built.archive;
  if (!archive) {
    const p = choosePackaging(built.files);
    if (p.kind === "inline") code = { inline: p.inline };
    else {
      console.error(`packaging ${codeDir} as a tar.gz: ${p.why}`);
      archive = {
        key: "code.tar.gz",
        bytes: tarGz(
          codeDir,
          built.files.map((f) => f.path),
        ),
      };
    }
  }
  let packageMap: string | undefined;
  let stored: string | undefined;
  if (archive && archive.bytes.length > CONFIGMAP_PACKAGE_LIMIT_BYTES) {
    // Over a ConfigMap's size: uploaded to the code store the cluster's Updraft keeps.
    stored = await uploadPackage(kc, namespace, archive.bytes);
    if (stored === undefined) return 1;
    code = { url: stored, sha256: sha256(archive.bytes) };
  } else if (archive) {
    packageMap = `${name}-code-${sha256(archive.bytes).slice(0, 10)}`;
    code = { configMapRef: { name: packageMap, key: archive.key } };
  }
  fn.spec.code = code!;
  fn.metadata.namespace = namespace;

  const custom = kc.makeApiClient(CustomObjectsApi);
  const core = kc.makeApiClient(CoreV1Api);
  if (archive && packageMap) await ensurePackage(core, namespace, name, packageMap, archive);
  const applied = await applyFunction(custom, fn);
  // A package in a ConfigMap is owned by its Function; packages it no longer uses go.
  await ownPackages(core, namespace, name, packageMap, applied);
  const how = stored
    ? `${stored} (${archive!.bytes.length} bytes, in the code store)`
    : archive
      ? `ConfigMap ${packageMap} (${archive.bytes.length} bytes)`
      : "inline";
  console.error(
    `applied function ${namespace}/${name} (generation ${applied.metadata.generation}), code ${how}`,
  );
  const appliedTriggers: UpdraftTrigger[] = [];
  for (const t of triggers) {
    t.metadata.namespace = namespace;
    // Marked as deploy's, so a later deploy of this Function can tell what it left behind.
    t.metadata.labels = { ...t.metadata.labels, [Labels.deployedWith]: name };
    appliedTriggers.push(await applyTrigger(custom, t));
    const what = t.spec.http
      ? `Http ${t.spec.http.path}`
      : t.spec.timer
        ? `Timer ${t.spec.timer.cronExpression}`
        : t.spec.type;
    console.error(`applied trigger ${namespace}/${t.metadata.name} (${what})`);
  }
  await pruneTriggers(custom, namespace, name, new Set(triggers.map((t) => t.metadata.name as string)));
  if (values["no-wait"]) return 0;
  const deadline = Date.now() + Number(waitS) * 1000;
  const fnReady = await waitReady(custom, namespace, name, applied.metadata.generation ?? 0, deadline);
  if (fnReady !== 0) return fnReady;
  // The activator's address as this shell reaches it, if it has one: an Http Trigger's URL
  // is said at it too (status.url is the address inside the cluster).
  return waitTriggersReady(custom, appliedTriggers, deadline, process.env.UPDRAFT_URL);
}

/**
 * An Http Trigger's URL as said by deploy: status.url (the activator inside the cluster),
 * and the same path at $UPDRAFT_URL when the shell has one, which is what a user can curl.
 * Example: ("http://updraft-activator.updraft-system.svc:8080/http/demo/hello", "http://10.0.0.5:30080/")
 * → "http://10.0.0.5:30080/http/demo/hello (in the cluster: http://updraft-activator…/http/demo/hello)".
 */
export function triggerUrlText(inCluster: string, updraftUrl: string | undefined): string {
  if (!updraftUrl) return inCluster;
  let path: string;
  try {
    const u = new URL(inCluster);
    path = `${u.pathname}${u.search}`;
  } catch {
    return inCluster;
  }
  return `${updraftUrl.replace(/\/+$/, "")}${path} (in the cluster: ${inCluster})`;
}

/** Why a Trigger is not Ready that waiting does not change: said at once. */
const TRIGGER_FAULTS = new Set(["PathParameterRepeated", "FunctionNotFound"]);

/**
 * Each Trigger deploy applied, once its controller has seen this generation: Ready (an Http
 * one with its URL), disabled (spec.enabled false: nothing fires, as asked), or not — a
 * fault at once, anything else (an adapter starting, a broker not reached yet) until the
 * deadline. Example: a Timer whose adapter has not reported yet prints
 * "  trigger default/f-timer: Ready Unknown AdapterStarting: …" and waits; an Http path
 * naming {id} twice is PathParameterRepeated, said at once, exit 1.
 */
async function waitTriggersReady(
  custom: CustomObjectsApi,
  applied: UpdraftTrigger[],
  deadline: number,
  updraftUrl: string | undefined,
): Promise<number> {
  const pending = new Map(applied.map((t) => [t.metadata.name as string, t]));
  const last = new Map<string, string>();
  while (pending.size > 0) {
    for (const [name, t] of pending) {
      const namespace = t.metadata.namespace as string;
      const now = (await custom.getNamespacedCustomObject({
        group: GROUP,
        version: VERSION,
        plural: TRIGGERS,
        namespace,
        name,
      })) as UpdraftTrigger;
      if ((now.status?.observedGeneration ?? 0) < (t.metadata.generation ?? 0)) continue;
      const ready = now.status?.conditions?.find((c) => c.type === "Ready");
      const what = `trigger ${namespace}/${name}`;
      if (ready?.status === "True") {
        const url = now.status?.url ? `: ${triggerUrlText(now.status.url, updraftUrl)}` : "";
        console.log(`${what} is Ready${url}`);
        pending.delete(name);
      } else if (ready?.status === "False" && ready.reason === "Disabled") {
        console.log(`${what} is disabled (spec.enabled: false): nothing fires until it is enabled`);
        pending.delete(name);
      } else if (ready?.status === "False" && TRIGGER_FAULTS.has(ready.reason ?? "")) {
        console.error(`updraft: ${what} is not Ready: ${ready.reason}: ${ready.message ?? ""}`);
        return 1;
      } else {
        const line = ready
          ? `${ready.status} ${ready.reason ?? ""}: ${ready.message ?? ""}`
          : "no status yet";
        if (last.get(name) !== line) console.error(`  ${what}: Ready ${line}`);
        last.set(name, line);
      }
    }
    if (pending.size === 0) break;
    if (Date.now() > deadline) {
      const names = [...pending.keys()].map((n) => `${n} (Ready ${last.get(n) ?? "no status yet"})`);
      console.error(`updraft: triggers not Ready in time: ${names.join(", ")}`);
      return 1;
    }
    await new Promise((r) => setTimeout(r, 500));
  }
  return 0;
}

/**
 * Uploads a package through the invoke API (POST /v1/namespaces/{ns}/packages); its
 * code.url (updraft:packages/<sha256>), or undefined once the reason is printed.
 */
async function uploadPackage(kc: KubeConfig, namespace: string, bytes: Buffer): Promise<string | undefined> {
  const call = caller(kc);
  if (!call) return undefined;
  const hash = sha256(bytes);
  console.error(`uploading the ${bytes.length}-byte package to the code store`);
  const a = await call(
    "POST",
    packageUploadPath(namespace, hash),
    { "content-type": "application/octet-stream", "content-length": String(bytes.length) },
    bytes,
  );
  if (a.status === 201) return (JSON.parse(a.text) as StoredPackage).url;
  explainUnauthenticated(a.status);
  let reason = a.text;
  try {
    reason = (JSON.parse(a.text) as { errorMessage?: string; message?: string }).errorMessage ?? reason;
  } catch {
    // not JSON (an API server's plain answer): shown as it is
  }
  console.error(
    `updraft: the package is ${bytes.length} bytes, over the ${CONFIGMAP_PACKAGE_LIMIT_BYTES} a ConfigMap holds, and uploading it failed (${a.status}): ${reason}\n` +
      `  Without a code store, serve it over HTTP(S) and set code.url and code.sha256 (${hash}) in function.yaml.`,
  );
  return undefined;
}

async function ensurePackage(
  core: CoreV1Api,
  namespace: string,
  fn: string,
  mapName: string,
  archive: { key: string; bytes: Buffer },
): Promise<void> {
  const body = {
    metadata: { name: mapName, labels: { [Labels.packageOf]: fn } },
    binaryData: { [archive.key]: archive.bytes.toString("base64") },
  };
  // Named by its content: one that is there already holds these bytes.
  await core.createNamespacedConfigMap({ namespace, body }).catch((err: unknown) => {
    if ((err as { code?: number }).code !== 409) throw err;
  });
}

/** The Function owns its package (deleting it deletes them); older packages of it go. */
async function ownPackages(
  core: CoreV1Api,
  namespace: string,
  fn: string,
  current: string | undefined,
  owner: UpdraftFunction,
): Promise<void> {
  const maps = await core.listNamespacedConfigMap({
    namespace,
    labelSelector: `${Labels.packageOf}=${fn}`,
  });
  for (const m of maps.items) {
    const mapName = m.metadata?.name as string;
    if (mapName !== current) {
      // A rollout still starting from the old package reads it until its pods are up; the
      // instances unpack it at start, so those running keep their copy.
      await core.deleteNamespacedConfigMap({ name: mapName, namespace }).catch(() => undefined);
      continue;
    }
    if (m.metadata?.ownerReferences?.some((o) => o.uid === owner.metadata.uid)) continue;
    await core.patchNamespacedConfigMap(
      {
        name: mapName,
        namespace,
        body: {
          metadata: {
            ownerReferences: [
              { apiVersion: API_VERSION, kind: "Function", name: fn, uid: owner.metadata.uid as string },
            ],
          },
        },
      },
      mergePatch,
    );
  }
}

/**
 * Deletes the Triggers an earlier deploy of this Function applied that its files no longer
 * hold — an event taken out of serverless.yaml stops firing, as SCF's framework removes it.
 * Triggers made any other way (kubectl apply, Helm) carry no such label and are left alone.
 * Example: deploy with a timer and an apigw event, take the timer out, deploy again → the
 * Timer Trigger `<fn>-<event>` is deleted, the Http Trigger stays.
 */
async function pruneTriggers(
  custom: CustomObjectsApi,
  namespace: string,
  fn: string,
  keep: Set<string>,
): Promise<void> {
  const listed = (await custom.listNamespacedCustomObject({
    group: GROUP,
    version: VERSION,
    plural: TRIGGERS,
    namespace,
    labelSelector: `${Labels.deployedWith}=${fn}`,
  })) as { items: UpdraftTrigger[] };
  for (const t of listed.items) {
    const triggerName = t.metadata.name as string;
    if (keep.has(triggerName)) continue;
    await custom
      .deleteNamespacedCustomObject({
        group: GROUP,
        version: VERSION,
        plural: TRIGGERS,
        namespace,
        name: triggerName,
      })
      .catch((err: unknown) => {
        // Gone already (deleted meanwhile) is what was wanted.
        if ((err as { code?: number }).code !== 404) throw err;
      });
    console.error(
      `removed trigger ${namespace}/${triggerName} (deployed with ${fn} before, no longer in its files)`,
    );
  }
}

const mergePatch = setHeaderOptions("Content-Type", PatchStrategy.MergePatch);

/** Creates the Function, or replaces its spec (labels and annotations merged). */
async function applyFunction(custom: CustomObjectsApi, fn: UpdraftFunction): Promise<UpdraftFunction> {
  return applyObject(custom, FUNCTIONS, fn);
}

/** Creates the Trigger, or replaces its spec. */
async function applyTrigger(custom: CustomObjectsApi, t: UpdraftTrigger): Promise<UpdraftTrigger> {
  return applyObject(custom, TRIGGERS, t);
}

async function applyObject<T extends UpdraftFunction | UpdraftTrigger>(
  custom: CustomObjectsApi,
  plural: string,
  obj: T,
): Promise<T> {
  const ref = {
    group: GROUP,
    version: VERSION,
    plural,
    namespace: obj.metadata.namespace as string,
  };
  const existing = (await custom
    .getNamespacedCustomObject({ ...ref, name: obj.metadata.name as string })
    .catch((err: unknown) => {
      if ((err as { code?: number }).code === 404) return undefined;
      throw err;
    })) as T | undefined;
  if (!existing) return (await custom.createNamespacedCustomObject({ ...ref, body: obj })) as T;
  const body: T = {
    ...existing,
    metadata: {
      ...existing.metadata,
      labels: { ...existing.metadata.labels, ...obj.metadata.labels },
      annotations: { ...existing.metadata.annotations, ...obj.metadata.annotations },
    },
    spec: obj.spec,
  };
  return (await custom.replaceNamespacedCustomObject({
    ...ref,
    name: obj.metadata.name as string,
    body,
  })) as T;
}

/**
 * Until the controller reports this generation Ready and rolled out (no instance of the old
 * code left); a fault that needs a hand ends it early.
 */
async function waitReady(
  custom: CustomObjectsApi,
  namespace: string,
  name: string,
  generation: number,
  deadline: number,
): Promise<number> {
  const timeoutMs = deadline - Date.now();
  let last = "";
  for (;;) {
    const fn = (await custom.getNamespacedCustomObject({
      group: GROUP,
      version: VERSION,
      plural: FUNCTIONS,
      namespace,
      name,
    })) as UpdraftFunction;
    const current = (fn.status?.observedGeneration ?? 0) >= generation;
    const ready = fn.status?.conditions?.find((c) => c.type === "Ready");
    // Running instances roll to the new code: done when none of the old ones is left, so
    // the next call is answered by the new code.
    const rolling = fn.status?.conditions?.find((c) => c.type === "DeploymentReady")?.reason === "RollingOut";
    if (current && ready?.status === "True" && !rolling) {
      console.log(`function ${namespace}/${name} is Ready`);
      return 0;
    }
    const fault = current ? unservable(fn) : undefined;
    if (fault) {
      console.error(`updraft: function ${namespace}/${name} cannot start: ${fault.reason}: ${fault.message}`);
      return 1;
    }
    const rollout = fn.status?.conditions?.find((c) => c.type === "DeploymentReady");
    const now = rolling
      ? `True, rolling out: ${rollout?.message ?? ""}`
      : ready
        ? `${ready.status} ${ready.reason ?? ""}: ${ready.message ?? ""}`
        : "no status yet";
    if (now !== last) console.error(`  Ready ${now}`);
    last = now;
    if (Date.now() > deadline) {
      console.error(`updraft: not Ready within ${Math.round(timeoutMs / 1000)} s (Ready ${now})`);
      return 1;
    }
    await new Promise((r) => setTimeout(r, 500));
  }
}
