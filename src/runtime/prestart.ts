/**
 * Pre-started workers of a warm-pool instance (docs/warm-pool.md). A pool instance of a
 * Node.js or Python runtime starts its language worker before any function claims it; the
 * bootstrap waits, before loading any handler, for the function's environment, takes it on
 * (process.env / os.environ) and then loads the handler as a worker started with that
 * environment would. What it skips is the interpreter's own start — on the local node
 * about half of a pool hit.
 *
 * The worker must end up exactly as a plain one, so it is handed over only when nothing
 * an interpreter reads once, at its start, differs between the pool's environment and the
 * function's: NODE_OPTIONS or PYTHONPATH set on the function, say, could not be applied to
 * a running process — the instance then starts a fresh worker, as without the pre-start.
 */

/** Runtimes whose bootstrap can wait for its function's environment. */
export function prestartSupported(runtime: string): boolean {
  return /^nodejs\d+$/.test(runtime) || /^python\d/.test(runtime);
}

/**
 * Variables read when a process or interpreter starts, not when the code reads them: the
 * dynamic loader and C library (LD_*, MALLOC_*, GLIBC_TUNABLES), locale and time zone
 * (ICU and CPython take them at start), OpenSSL's, and each interpreter's own.
 */
const STARTUP_COMMON = /^(LD_|MALLOC_|GLIBC_TUNABLES$|LANG$|LANGUAGE$|LC_|TZ$|OPENSSL_|SSL_CERT_)/;
const STARTUP_NODE = /^(NODE_|UV_|ICU_DATA$)/;
const STARTUP_PYTHON = /^PYTHON/;

/**
 * Why a pre-started worker (started with poolEnv) cannot become the function's (fnEnv), or
 * undefined when it can. Example: nodejs24, the function adds NODE_OPTIONS=--enable-source-maps
 * → "NODE_OPTIONS is read at start"; it adds GREETING=hi → undefined.
 */
export function handOverRefusal(
  runtime: string,
  poolEnv: Readonly<Record<string, string>>,
  fnEnv: Readonly<Record<string, string>>,
): string | undefined {
  if (!prestartSupported(runtime)) return `${runtime} workers are not pre-started`;
  const own = /^nodejs/.test(runtime) ? STARTUP_NODE : STARTUP_PYTHON;
  for (const key of new Set([...Object.keys(poolEnv), ...Object.keys(fnEnv)])) {
    if (poolEnv[key] === fnEnv[key]) continue;
    if (STARTUP_COMMON.test(key) || own.test(key)) return `${key} is read at start`;
  }
  return undefined;
}
