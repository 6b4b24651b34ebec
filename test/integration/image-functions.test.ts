/**
 * Image functions on the local cluster: examples/image-function built here into the local
 * registry and run unchanged beside the runtime shim — as an Event function (POST
 * /event-invoke on 9000) and as a Web function behind an Http trigger — under the pod
 * security every function gets.
 */
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import {
  applyYaml,
  deleteNamespace,
  getFunction,
  installFullUpdraft,
  invokeFunction,
  isReady,
  newNamespace,
  ROOT,
  waitFor,
} from "./harness.ts";

let base = "";
let ns = "";

const invoke = (fn: string, event: unknown) => invokeFunction(base, ns, fn, event);

describe("image functions", { timeout: 600_000 }, () => {
  before(async () => {
    base = await installFullUpdraft();
    ns = await newNamespace("image");
    const image = execFileSync(join(ROOT, "hack/images.sh"), ["example", "examples/image-function"], {
      encoding: "utf8",
    })
      .trim()
      .split("\n")
      .pop()!;
    applyYaml(
      ns,
      readFileSync(join(ROOT, "examples/image-function/function.yaml"), "utf8").replaceAll("IMAGE", image),
    );
    await waitFor("both Functions Ready", async () =>
      (await Promise.all(["image-event", "image-web"].map((f) => getFunction(ns, f)))).every(isReady),
    );
  });

  after(async () => {
    if (ns) await deleteNamespace(ns);
  });

  it("an Event image gets the event on POST /event-invoke with SCF's headers, as a non-root user with a writable /tmp", async () => {
    const r = await invoke("image-event", { do: "echo", n: 1, nested: { a: [1, 2] } });
    assert.equal(r.status, 200, r.body);
    assert.equal(r.functionError, null, r.body);
    assert.deepEqual(r.json.event, { do: "echo", n: 1, nested: { a: [1, 2] } });
    const scf = r.json.scf as Record<string, string>;
    assert.equal(scf["x-scf-request-id"], r.requestId);
    assert.equal(scf["x-scf-memory"], "128");
    assert.equal(scf["x-scf-name"], "image-event");
    assert.equal(scf["x-scf-namespace"], ns);
    assert.equal(r.json.uid, 10001, "the image runs as the platform's non-root user");
    assert.equal(r.json.function, "image-event", "SCF's environment reaches the image");
  });

  it("an error status from the image is 430; an exit is 439, and the kubelet's restart brings it back", async () => {
    const failed = await invoke("image-event", { do: "fail" });
    assert.equal(failed.functionError, "430", failed.body);
    assert.match(String(failed.json.errorMessage), /failed on purpose/);
    const exited = await invoke("image-event", { do: "exit" });
    assert.equal(exited.functionError, "439", exited.body);
    const back = await waitFor(
      "the image answers again",
      async () => {
        const r = await invoke("image-event", { do: "echo" });
        return r.functionError === null ? r : undefined;
      },
      120_000,
      500,
    );
    assert.equal(back.status, 200);
  });

  it("a Web image answers its Http trigger's requests as they came, with SCF's request id", async () => {
    const res = await waitFor(
      "the Http trigger serves",
      async () => {
        const r = await fetch(`${base}/http/${ns}/image/hello?x=1`, { signal: AbortSignal.timeout(120_000) });
        return r.status === 200 ? r : undefined;
      },
      120_000,
      500,
    );
    assert.equal(res.headers.get("x-served-by"), "image");
    const text = await res.text();
    assert.match(text, /^GET \/\S*hello\?x=1 request [0-9a-f-]{36}\n$/, text);
  });
});
