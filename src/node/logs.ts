/**
 * Serves a container's log file the way the kubelet's /containerLogs does: whole, the last
 * N lines, at most N bytes, and with follow, new output as it is written until the
 * container stops or the client goes away.
 */
import { createReadStream, statSync } from "node:fs";
import { readFile } from "node:fs/promises";
import type { ServerResponse } from "node:http";

export function tailLines(text: string, n: number): string {
  if (n <= 0) return "";
  const lines = text.endsWith("\n") ? text.slice(0, -1).split("\n") : text.split("\n");
  const kept = lines.slice(-n).join("\n");
  return text.length === 0 ? "" : `${kept}\n`;
}

export function streamLog(
  file: string,
  res: ServerResponse,
  opts: { follow: boolean; tailLines?: number; limitBytes?: number; stillRunning: () => boolean },
): void {
  res.writeHead(200, { "Content-Type": "text/plain" });
  void (async () => {
    let text = await readFile(file, "utf8");
    if (opts.tailLines !== undefined) text = tailLines(text, opts.tailLines);
    if (opts.limitBytes !== undefined) text = text.slice(0, opts.limitBytes);
    res.write(text);
    if (!opts.follow) {
      res.end();
      return;
    }
    let offset = statSync(file).size;
    const timer = setInterval(() => {
      let size = offset;
      try {
        size = statSync(file).size;
      } catch {
        // rotated away
      }
      if (size > offset) {
        createReadStream(file, { start: offset, end: size - 1 }).pipe(res, { end: false });
        offset = size;
      } else if (!opts.stillRunning()) {
        clearInterval(timer);
        res.end();
      }
    }, 200);
    res.on("close", () => clearInterval(timer));
  })().catch(() => res.end());
}
