/**
 * Which undici a component's HTTP calls run on. Node.js 24 bundles undici 7 (behind the
 * global fetch), and loading node:http installs that copy's Agent as the process's global
 * dispatcher (`Symbol.for("undici.globalDispatcher.2")`, shared by every copy of undici).
 * From then on a call to `request` or `fetch` of undici from npm without a `dispatcher` — and
 * the Kubernetes client, which passes none — runs on the bundled 7.x code, whose HTTP/1
 * parser ends the process with an uncatchable `assert(!this.paused)` when a peer closes a
 * connection whose response body is paused for back-pressure (nodejs/undici#5360, mended
 * in undici 8). An activator died of it twice while it served code packages from the
 * object store to starting instances.
 *
 * Example: in the activator, `import "node:http"` ran before undici was loaded, so
 * `getGlobalDispatcher() instanceof Agent` (undici from npm) was false; after
 * `useUndiciFromNpm()` it is true, and every call without a dispatcher parses with 8.x.
 */
import { Agent, getGlobalDispatcher, setGlobalDispatcher } from "undici";

/** Makes undici from npm the process's global dispatcher: called first by each component's main. */
export function useUndiciFromNpm(): void {
  if (!(getGlobalDispatcher() instanceof Agent)) setGlobalDispatcher(new Agent());
}
