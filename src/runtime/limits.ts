/**
 * Per-instance limits the shim sets on the function's processes, as SCF does.
 *
 * Open files: 1,024 for the worker and everything it starts (soft and hard, so the code
 * cannot raise it). Node.js cannot set a child's rlimit, so the worker is started through
 * the shell's `ulimit`, which then execs it (same pid, same process group: nothing else
 * changes). Example: ["python3", "-u", "bootstrap.py"] →
 * ["/bin/sh", "-c", 'ulimit -n 1024; exec "$0" "$@"', "python3", "-u", "bootstrap.py"].
 * If the container's own hard limit is lower, `ulimit` fails and the lower limit stays.
 *
 * Processes and threads are the pod's pids limit (the kubelet's podPidsLimit), not an
 * rlimit: RLIMIT_NPROC counts per uid across the node, and every function runs as one uid.
 */
export const OPEN_FILES_LIMIT = 1024;

export function withOpenFilesLimit(argv: readonly string[]): string[] {
  return ["/bin/sh", "-c", `ulimit -n ${OPEN_FILES_LIMIT} 2>/dev/null; exec "$0" "$@"`, ...argv];
}
