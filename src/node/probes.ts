/**
 * Probes as the kubelet runs them: httpGet (2xx/3xx is success), tcpSocket (the connection
 * opens), exec (exit 0), each bounded by timeoutSeconds.
 */
import { execFile } from "node:child_process";
import { connect } from "node:net";
import type { V1Container, V1Probe } from "@kubernetes/client-node";

export function probePort(port: number | string | undefined, container: V1Container): number {
  if (typeof port === "number") return port;
  if (port !== undefined && /^\d+$/.test(port)) return Number(port);
  const named = container.ports?.find((p) => p.name === port);
  if (!named) throw new Error(`probe port ${port} is not a port of container ${container.name}`);
  return named.containerPort;
}

export type ExecInContainer = (argv: string[], timeoutMs: number) => Promise<number>;

export async function runProbe(
  probe: V1Probe,
  podIP: string,
  container: V1Container,
  execIn: ExecInContainer,
): Promise<boolean> {
  const timeoutMs = (probe.timeoutSeconds ?? 1) * 1000;
  try {
    if (probe.httpGet) {
      const port = probePort(probe.httpGet.port as number | string, container);
      const scheme = (probe.httpGet.scheme ?? "HTTP").toLowerCase();
      const host = probe.httpGet.host ?? podIP;
      const headers: Record<string, string> = { "User-Agent": "kube-probe/1.34" };
      for (const h of probe.httpGet.httpHeaders ?? []) headers[h.name] = h.value;
      const res = await fetch(`${scheme}://${host}:${port}${probe.httpGet.path ?? "/"}`, {
        headers,
        redirect: "manual",
        signal: AbortSignal.timeout(timeoutMs),
      });
      await res.arrayBuffer().catch(() => undefined);
      return res.status >= 200 && res.status < 400;
    }
    if (probe.tcpSocket) {
      const port = probePort(probe.tcpSocket.port as number | string, container);
      return await new Promise<boolean>((resolve) => {
        const sock = connect({ host: probe.tcpSocket?.host ?? podIP, port });
        const done = (ok: boolean) => {
          sock.destroy();
          resolve(ok);
        };
        sock.setTimeout(timeoutMs, () => done(false));
        sock.once("connect", () => done(true));
        sock.once("error", () => done(false));
      });
    }
    if (probe.exec?.command?.length) {
      return (await execIn(probe.exec.command, timeoutMs)) === 0;
    }
  } catch {
    return false;
  }
  return false;
}

/** Runs argv inside a running container: its network and mount namespaces, its root, its user. */
export function nsenterExec(
  pid: number,
  root: string,
  uid: number,
  gid: number,
  env: Record<string, string>,
  workingDir: string,
): ExecInContainer {
  return (argv, timeoutMs) =>
    new Promise((resolve) => {
      const args = ["--target", String(pid), "--net", "--mount", "--", "chroot", root];
      if (uid !== 0 || gid !== 0)
        args.push("/usr/bin/setpriv", `--reuid=${uid}`, `--regid=${gid}`, "--clear-groups", "--");
      args.push(
        "/usr/bin/env",
        "-i",
        "-C",
        workingDir,
        ...Object.entries(env).map(([k, v]) => `${k}=${v}`),
        ...argv,
      );
      execFile("nsenter", args, { timeout: timeoutMs }, (err) => {
        if (!err) resolve(0);
        else resolve(typeof err.code === "number" ? err.code : 1);
      });
    });
}
