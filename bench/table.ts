/**
 * The activator's function table at scale, in process (no cluster): N Functions (default
 * 10,000) with one ready instance each, then 200 EndpointSlice changes (one function gains
 * an instance). Each change applied as the activator does now — the one slice — and, as
 * the baseline in the same run, as it did before — the whole list rebuilt. Prints the
 * table's heap and the time per change, median and p99.
 *
 *   node --expose-gc bench/table.ts [functions]
 */
import type { V1EndpointSlice } from "@kubernetes/client-node";
import { FunctionTable } from "../src/activator/table.ts";
import type { UpdraftFunction } from "../src/api/v1alpha1.ts";
import { percentile } from "./load.ts";

const n = Number(process.argv[2] ?? 10_000);
const gc = (globalThis as { gc?: () => void }).gc;
const heap = () => {
  gc?.();
  return process.memoryUsage().heapUsed;
};

const fn = (i: number): UpdraftFunction =>
  ({
    apiVersion: "updraft.dev/v1alpha1",
    kind: "Function",
    metadata: { name: `fn-${i}`, namespace: `ns-${i % 100}` },
    spec: { runtime: "nodejs24", handler: "index.main_handler", code: { inline: { "index.js": "" } } },
  }) as UpdraftFunction;
const ip = (i: number) => `10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}`;
const slice = (i: number, ips: string[]): V1EndpointSlice => ({
  addressType: "IPv4",
  metadata: {
    name: `fn-fn-${i}-x`,
    namespace: `ns-${i % 100}`,
    labels: { "updraft.dev/function": `fn-${i}` },
  },
  endpoints: ips.map((a) => ({ addresses: [a], conditions: { ready: true } })),
});

const before = heap();
const table = new FunctionTable({ maxWaiting: 10, maxShare: (m) => m, onColdRequest: () => undefined });
const functions = Array.from({ length: n }, (_, i) => fn(i));
let t = performance.now();
table.setFunctions(functions);
const setFunctionsMs = performance.now() - t;
const slices = Array.from({ length: n }, (_, i) => slice(i, [ip(i)]));
t = performance.now();
table.setEndpointSlices(slices);
const firstSlicesMs = performance.now() - t;
const held = heap() - before;

// One function at a time gains a second instance.
const perSlice: number[] = [];
const fullList: number[] = [];
for (let k = 0; k < 200; k++) {
  const i = (k * 7919) % n;
  slices[i] = slice(i, [ip(i), ip(n + k)]);
  t = performance.now();
  table.applyEndpointSlice(slices[i]!, false);
  perSlice.push(performance.now() - t);
  t = performance.now();
  table.setEndpointSlices(slices);
  fullList.push(performance.now() - t);
}
const ms = (xs: number[]) => ({
  p50: Number(percentile(xs, 0.5).toFixed(3)),
  p99: Number(percentile(xs, 0.99).toFixed(3)),
});
console.log(
  JSON.stringify(
    {
      functions: n,
      tableHeapMB: Number((held / 1024 / 1024).toFixed(1)),
      setFunctionsMs: Math.round(setFunctionsMs),
      firstEndpointSlicesMs: Math.round(firstSlicesMs),
      oneChangeMs: ms(perSlice),
      baselineWholeListRebuildMs: ms(fullList),
      ratio: Number((percentile(fullList, 0.5) / percentile(perSlice, 0.5)).toFixed(0)),
    },
    null,
    2,
  ),
);
