/**
 * The Grafana dashboard in the chart: every metric it queries is one the activators or the
 * autoscaler export (the names below are the components' own constants), and every panel
 * queries something. (test/integration/async.test.ts checks each has series after traffic.)
 */
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, it } from "node:test";
import { FUNCTION_METRICS } from "../../src/activator/function-metrics.ts";
import { ASYNC_METRICS } from "../../src/async/metrics.ts";
import { AUTOSCALER_METRICS } from "../../src/autoscaler/autoscaler.ts";

const ROOT = join(import.meta.dirname, "../..");
const dashboard = JSON.parse(
  readFileSync(join(ROOT, "charts/updraft/files/dashboards/updraft-functions.json"), "utf8"),
) as {
  uid: string;
  panels: Array<{ title: string; targets: Array<{ expr: string }> }>;
};

describe("the Grafana dashboard", () => {
  const exported = new Set<string>([
    ...Object.values(FUNCTION_METRICS),
    ...Object.values(ASYNC_METRICS),
    ...Object.values(AUTOSCALER_METRICS),
  ]);
  it("queries only metrics the components export (a histogram by its _bucket series)", () => {
    for (const p of dashboard.panels)
      for (const t of p.targets)
        for (const name of t.expr.match(/\bupdraft_[a-z_]+/g) ?? [])
          assert.ok(exported.has(name.replace(/_(bucket|sum|count)$/, "")), `${p.title}: ${name}`);
  });
  it("every panel queries something, every figure of the issue has a panel", () => {
    for (const p of dashboard.panels)
      assert.ok(p.targets.length > 0 && p.targets.every((t) => t.expr), p.title);
    const used = new Set(
      dashboard.panels.flatMap((p) =>
        p.targets.flatMap((t) =>
          (t.expr.match(/\bupdraft_[a-z_]+/g) ?? []).map((n) => n.replace(/_(bucket|sum|count)$/, "")),
        ),
      ),
    );
    for (const name of [...Object.values(FUNCTION_METRICS), ...Object.values(ASYNC_METRICS)])
      assert.ok(used.has(name), `no panel shows ${name}`);
  });
});
