/**
 * The shim's own reason for ending its instance, left where the kubelet reads it: the
 * container's termination file (protocol/termination.ts), which becomes the terminated
 * state's message and is quoted in the Function's InstancesHealthy condition. Returns the
 * line as written, for the log. Outside a pod the file may not be writable: the log still
 * has the line.
 *
 * Example: recordExitReason("code package http://pkg/a.zip could not be downloaded: Error:
 * HTTP 404") writes and returns "updraft-runtime: code package http://pkg/a.zip …".
 */
import { writeFileSync } from "node:fs";
import { SHIM_EXIT_PREFIX, TERMINATION_MESSAGE_PATH } from "../protocol/termination.ts";

export function recordExitReason(reason: string, path = TERMINATION_MESSAGE_PATH): string {
  const line = `${SHIM_EXIT_PREFIX} ${reason}`;
  try {
    writeFileSync(path, line);
  } catch {}
  return line;
}
