/** Free TCP ports on 127.0.0.1 for tests and benches that start servers of their own. */
import { createServer } from "node:net";

/**
 * `n` distinct free ports: all held open together before any is released, so none is
 * handed out twice (taken one at a time, the kernel may give the same port again).
 */
export async function freePorts(n: number): Promise<number[]> {
  const servers = await Promise.all(
    Array.from(
      { length: n },
      () =>
        new Promise<ReturnType<typeof createServer>>((done, fail) => {
          const s = createServer();
          s.once("error", fail);
          s.listen(0, "127.0.0.1", () => done(s));
        }),
    ),
  );
  const ports = servers.map((s) => (s.address() as { port: number }).port);
  await Promise.all(servers.map((s) => new Promise((done) => s.close(done))));
  return ports;
}

/** One free port. */
export async function freePort(): Promise<number> {
  return (await freePorts(1))[0]!;
}
