/**
 * Temporary folders for tests and benches, removed when the process exits — each test file
 * runs in a process of its own, so a run of `make test` leaves none behind in /tmp.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

const made = new Set<string>();

/** A new folder under the system's temporary one, named `<prefix>-XXXXXX`. */
export function tempDir(prefix: string): string {
  const dir = mkdtempSync(join(tmpdir(), `${prefix}-`));
  if (made.size === 0)
    process.once("exit", () => {
      for (const d of made) rmSync(d, { recursive: true, force: true });
    });
  made.add(dir);
  return dir;
}
