/**
 * SCF's log lines, spacing exactly as SCF prints them (inconsistent on purpose: "START
 * RequestId:<id>" has no space after the colon, "Init Report RequestId: <id>" has one).
 */

/** Megabytes with SCF's precision: 29.734375 stays, 57.861 prints as 57.86 in Init Report. */
const mb = (bytes: number): string => `${Number((bytes / 1024 / 1024).toFixed(6))}`;

export const startLine = (id: string): string => `START RequestId:${id}`;
export const endLine = (id: string): string => `END RequestId:${id}`;

export function reportLine(id: string, durationMs: number, memoryMB: number, memUsageBytes: number): string {
  return `Report RequestId:${id} Duration:${Math.ceil(durationMs)}ms Memory:${memoryMB}MB MemUsage:${mb(memUsageBytes)}MB`;
}

export interface InitTimings {
  pullCodeMs: number;
  initRuntimeMs: number;
  initFunctionMs: number;
}

/**
 * Example: Init Report RequestId: 1c2… Coldstart: 236ms (PullCode: 70ms InitRuntime: 8ms
 * InitFunction: 158ms) Memory: 640MB MemUsage: 57.86MB — Coldstart is the sum of the three.
 */
export function initReportLine(
  id: string,
  t: InitTimings,
  memoryMB: number,
  memUsageBytes: number,
  provisioned = false,
): string {
  const pull = Math.round(t.pullCodeMs);
  const runtime = Math.round(t.initRuntimeMs);
  const fn = Math.round(t.initFunctionMs);
  const usage = (memUsageBytes / 1024 / 1024).toFixed(2);
  return `${provisioned ? "Provisioned" : "Init"} Report RequestId: ${id} Coldstart: ${pull + runtime + fn}ms (PullCode: ${pull}ms InitRuntime: ${runtime}ms InitFunction: ${fn}ms) Memory: ${memoryMB}MB MemUsage: ${usage}MB`;
}

export const errorLine = (id: string, message: string): string => `ERROR RequestId:${id} Result:${message}`;

/** Billed duration: SCF bills in 1 ms steps, at least 1 ms. */
export const billedMs = (durationMs: number): number => Math.max(1, Math.ceil(durationMs));
