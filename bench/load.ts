/** Closed-loop load for the benches: C clients, each sending the next request when the last answered. */
export interface LoadResult {
  rps: number;
  p50: number;
  p99: number;
  errors: number;
  /** How many requests were answered (rps is this over the seconds). */
  requests: number;
}

export function percentile(xs: readonly number[], q: number): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.max(0, Math.ceil(q * s.length) - 1))] ?? Number.NaN;
}

export async function closedLoop(
  url: string,
  clients: number,
  seconds: number,
  headers: Record<string, string> = {},
): Promise<LoadResult> {
  const lat: number[] = [];
  let errors = 0;
  const end = performance.now() + seconds * 1000;
  await Promise.all(
    Array.from({ length: clients }, async () => {
      while (performance.now() < end) {
        const t0 = performance.now();
        const r = await fetch(url, {
          method: "POST",
          headers: { "content-type": "application/json", ...headers },
          body: '{"x":1}',
        });
        await r.arrayBuffer();
        if (r.status !== 200) errors++;
        lat.push(performance.now() - t0);
      }
    }),
  );
  return {
    rps: Math.round(lat.length / seconds),
    p50: Number(percentile(lat, 0.5).toFixed(2)),
    p99: Number(percentile(lat, 0.99).toFixed(2)),
    errors,
    requests: lat.length,
  };
}
