/** Free TCP ports on 127.0.0.1 for tests and benches that start servers of their own. */
import { readFileSync } from "node:fs";
import { createServer, type Server } from "node:net";

/**
 * Where ports are picked: below the kernel's ephemeral range and below Kubernetes' NodePort
 * range (30000–32767). A port the kernel hands out for port 0 comes from the ephemeral range,
 * and once released it may become the local port of any outgoing connection on the machine
 * before the child process that was given it binds it — seen on the local cluster's node,
 * busy with connections: `listen EADDRINUSE 127.0.0.1:32788` from a runtime shim. Below that
 * range only a listener takes a port. Example: ip_local_port_range "32768 60999" → 10000–29999.
 */
function pickRange(): { low: number; high: number } | undefined {
  let ephemeralLow = 32768;
  try {
    ephemeralLow = Number(
      readFileSync("/proc/sys/net/ipv4/ip_local_port_range", "utf8").trim().split(/\s+/)[0],
    );
  } catch {
    // not Linux: the usual default
  }
  const high = Math.min(ephemeralLow, 30000) - 1;
  return high - 10000 >= 1000 ? { low: 10000, high } : undefined;
}

function listen(port: number): Promise<Server | undefined> {
  return new Promise((done) => {
    const s = createServer();
    s.once("error", () => done(undefined));
    s.listen(port, "127.0.0.1", () => done(s));
  });
}

/**
 * `n` distinct free ports: all held open together before any is released, so none is
 * handed out twice. Picked at random in the range above (tried again when taken); where
 * there is no such range, the kernel's choice.
 */
export async function freePorts(n: number): Promise<number[]> {
  const range = pickRange();
  const servers: Server[] = [];
  for (let tries = 0; servers.length < n; tries++) {
    if (tries > 200 * n) throw new Error(`no ${n} free ports found in ${JSON.stringify(range)}`);
    const port = range ? range.low + Math.floor(Math.random() * (range.high - range.low + 1)) : 0;
    const s = await listen(port);
    if (s) servers.push(s);
  }
  const ports = servers.map((s) => (s.address() as { port: number }).port);
  await Promise.all(servers.map((s) => new Promise((done) => s.close(done))));
  return ports;
}

/** One free port. */
export async function freePort(): Promise<number> {
  return (await freePorts(1))[0]!;
}
