/**
 * What the CLI prints about Functions: pure functions of the objects, so each shape is
 * tested without a cluster. Columns follow kubectl's: upper-case headers, two spaces apart.
 */
import type { UpdraftFunction, UpdraftTrigger } from "../api/v1alpha1.ts";
import type { Condition } from "../lib/conditions.ts";
import type { KeptInvocation } from "../protocol/kept-logs.ts";

/** Lays rows out in columns. Example: [["NAME","READY"],["hello","True"]] → "NAME   READY\nhello  True". */
export function table(rows: string[][]): string {
  const widths: number[] = [];
  for (const row of rows)
    for (const [i, cell] of row.entries()) widths[i] = Math.max(widths[i] ?? 0, cell.length);
  return rows
    .map((row) =>
      row
        .map((cell, i) => (i === row.length - 1 ? cell : cell.padEnd(widths[i]!)))
        .join("  ")
        .trimEnd(),
    )
    .join("\n");
}

const condition = (o: { status?: { conditions?: Condition[] } }, type: string) =>
  o.status?.conditions?.find((c) => c.type === type);

/** How long ago, kubectl's way. Example: 90 s → "90s", 3,700 s → "61m", 90,000 s → "25h", 4 days → "4d". */
export function age(from: Date | string | undefined, now: Date): string {
  if (!from) return "<unknown>";
  const s = Math.max(0, Math.floor((now.getTime() - new Date(from).getTime()) / 1000));
  if (s < 120) return `${s}s`;
  if (s < 120 * 60) return `${Math.floor(s / 60)}m`;
  if (s < 48 * 3600) return `${Math.floor(s / 3600)}h`;
  return `${Math.floor(s / 86_400)}d`;
}

/** `updraft list`: one line per Function. */
export function functionTable(fns: UpdraftFunction[], now: Date, allNamespaces: boolean): string {
  const header = [...(allNamespaces ? ["NAMESPACE"] : []), "NAME", "RUNTIME", "READY", "INSTANCES", "AGE"];
  const rows = [...fns]
    .sort((a, b) =>
      `${a.metadata.namespace}/${a.metadata.name}`.localeCompare(
        `${b.metadata.namespace}/${b.metadata.name}`,
      ),
    )
    .map((f) => [
      ...(allNamespaces ? [f.metadata.namespace ?? ""] : []),
      f.metadata.name ?? "",
      f.spec.code?.image ? `${f.spec.runtime} (image)` : f.spec.runtime,
      condition(f, "Ready")?.status ?? "Unknown",
      `${f.status?.readyReplicas ?? 0}/${f.status?.replicas ?? 0}`,
      age(f.metadata.creationTimestamp, now),
    ]);
  return table([header, ...rows]);
}

/** `updraft describe`: the Function, its conditions and the Triggers that call it. */
export function describeFunction(
  fn: UpdraftFunction,
  triggers: UpdraftTrigger[],
  now: Date,
  recent: KeptInvocation[] | { error: string } = [],
): string {
  const s = fn.spec;
  const lines = [
    `Name:         ${fn.metadata.name}`,
    `Namespace:    ${fn.metadata.namespace}`,
    `Runtime:      ${s.runtime}${s.type === "Web" ? " (Web)" : ""}${s.code?.image ? `, image ${s.code.image}` : ""}`,
    ...(s.handler ? [`Handler:      ${s.handler}`] : []),
    `Memory:       ${s.memoryMB ?? "-"} MB`,
    `Timeout:      ${s.timeoutSeconds ?? "-"} s`,
    `Instances:    ${fn.status?.readyReplicas ?? 0} ready of ${fn.status?.replicas ?? 0}`,
    `URL:          ${fn.status?.url ?? "-"}`,
    `Age:          ${age(fn.metadata.creationTimestamp, now)}`,
    "Conditions:",
    table([
      ["  TYPE", "STATUS", "REASON", "MESSAGE"],
      ...(fn.status?.conditions ?? []).map((c) => [`  ${c.type}`, c.status, c.reason ?? "", c.message ?? ""]),
    ]),
    "Triggers:",
  ];
  const mine = triggers.filter((t) => t.spec.function === fn.metadata.name);
  if (mine.length === 0) lines.push("  <none>");
  else
    lines.push(
      table([
        ["  NAME", "TYPE", "READY", "FIRED", "URL"],
        ...mine.map((t) => [
          `  ${t.metadata.name}`,
          t.spec.type,
          condition(t, "Ready")?.status ?? "Unknown",
          String(t.status?.firedCount ?? 0),
          t.status?.url ?? "",
        ]),
      ]),
    );
  lines.push("Recent invocations:");
  if ("error" in recent) lines.push(`  <not available: ${recent.error}>`);
  else if (recent.length === 0) lines.push("  <none kept>");
  else
    lines.push(
      table([
        ["  AGE", "REQUEST ID", "OUTCOME", "DURATION", "COLD", "ASYNC"],
        ...[...recent]
          .reverse()
          .map((r) => [
            `  ${age(r.time, now)}`,
            r.requestId,
            r.outcome === "Succeeded" ? "Succeeded" : `${r.outcome} (${r.errorCode ?? "?"})`,
            r.durationMs === undefined ? "-" : `${r.durationMs.toFixed(1)} ms`,
            r.coldStart ? "yes" : "",
            r.async ? "yes" : "",
          ]),
      ]),
    );
  return lines.join("\n");
}
