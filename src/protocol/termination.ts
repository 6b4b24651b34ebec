/**
 * Where the shim writes why it could not start (a package that cannot be fetched, a
 * configuration it refuses) before it exits: the kubelet puts the file's text in the
 * container's terminated state, and the controller quotes it in InstancesHealthy. The
 * controller names the same path in every function container, which also falls back to
 * its log's last lines when the file is empty (FallbackToLogsOnError). Its own module: the
 * shim's image carries no more of the protocol than it loads.
 */
export const TERMINATION_MESSAGE_PATH = "/dev/termination-log";

/**
 * How the shim's own reason for exiting begins, in its log and in the termination file; the
 * controller quotes only such a line (a log's last line may be anything of the user's).
 * Example: "updraft-runtime: code package http://pkg/a.zip could not be downloaded: …".
 */
export const SHIM_EXIT_PREFIX = "updraft-runtime:";

/**
 * The codes the shim exits with when an instance of the function's current spec cannot
 * start, whatever the kubelet retries: its package cannot be downloaded, does not match
 * its sha256, is not a zip or tar.gz, or its configuration is refused. Written after the
 * prefix ("updraft-runtime: CodeDownloadFailed: …"); the controller reports such a crash
 * loop with the code as InstancesHealthy's reason, and calls are then refused at once.
 */
export const SHIM_START_FAILURES: ReadonlySet<string> = new Set([
  "CodeDownloadFailed",
  "CodeChecksumMismatch",
  "CodePackageInvalid",
  "InvalidConfig",
]);
