/**
 * Cold start per runtime, same run: for each runtime, a function that returns its event,
 * at zero with no pod left, invoked once — request to answer — N times (default 10); the
 * median and p90 per runtime, and each runtime image's compressed size.
 *
 *   make bench-runtimes        (or: node bench/runtimes.ts [runs])
 */
import { execFileSync } from "node:child_process";
import { join } from "node:path";
import { buildPackages, servePackages, sha256 } from "../test/conformance/packages.ts";
import {
  applyYaml,
  apps,
  core,
  deleteNamespace,
  installFullUpdraft,
  invokeAuth,
  newNamespace,
  ROOT,
  waitFor,
} from "../test/integration/harness.ts";
import { percentile } from "./load.ts";

const runs = Number(process.argv[2] ?? 10);

/** The runtime's function, as the `spec` lines after runtime; Go and Java need packages. */
const functions = (packages: { goUrl: string; goSha: string }): Record<string, string> => ({
  nodejs24: `handler: index.main_handler
  code: {inline: {index.js: "exports.main_handler = async (e) => e;"}}`,
  nodejs22: `handler: index.main_handler
  code: {inline: {index.js: "exports.main_handler = async (e) => e;"}}`,
  "python3.11": `handler: index.main_handler
  code: {inline: {index.py: "def main_handler(event, context):\\n    return event\\n"}}`,
  "php8.2": `handler: index.main_handler
  code: {inline: {index.php: "<?php\\nfunction main_handler($event, $context) { return $event; }\\n"}}`,
  custom: `code:
    inline:
      bootstrap: |
        #!/bin/bash
        api="http://$SCF_RUNTIME_API:$SCF_RUNTIME_API_PORT/runtime"
        curl -s -X POST "$api/init/ready" > /dev/null
        while true; do
          h=$(mktemp); body=$(curl -s -D "$h" "$api/invocation/next")
          curl -s -X POST -d "$body" "$api/invocation/response" > /dev/null
        done`,
  // The conformance functions (test/conformance/functions): "echo" answers the event.
  go1: `handler: main
  code: {url: "${packages.goUrl}", sha256: "${packages.goSha}"}`,
  java17: `handler: "conformance.Handler::handle"
  code: {configMapRef: {name: java-package, key: conformance.jar}}`,
  java21: `handler: "conformance.Handler::handle"
  code: {configMapRef: {name: java-package, key: conformance.jar}}`,
});

async function main(): Promise<void> {
  const base = await installFullUpdraft();
  const ns = await newNamespace("bench-runtimes");
  const results: Array<{ runtime: string; p50: number; p90: number }> = [];
  const built = buildPackages();
  const { server, url } = await servePackages(new Map([["go.zip", built.goZip]]));
  await core.createNamespacedConfigMap({
    namespace: ns,
    body: {
      metadata: { name: "java-package" },
      binaryData: { "conformance.jar": built.javaJar.toString("base64") },
    },
  });
  try {
    for (const [runtime, body] of Object.entries(
      functions({ goUrl: `${url}/go.zip`, goSha: sha256(built.goZip) }),
    )) {
      const name = `cold-${runtime.replace(".", "-")}`;
      applyYaml(
        ns,
        `apiVersion: updraft.dev/v1alpha1
kind: Function
metadata: {name: ${name}}
spec:
  runtime: ${runtime}
  scaling: {scaleToZeroAfterSeconds: 2}
  ${body}
`,
      );
      const times: number[] = [];
      for (let i = 0; i < runs; i++) {
        await waitFor(
          `${name} at zero with no pods`,
          async () => {
            const dep = await apps
              .readNamespacedDeployment({ name: `fn-${name}`, namespace: ns })
              .catch(() => undefined);
            const pods = await core.listNamespacedPod({
              namespace: ns,
              labelSelector: `updraft.dev/function=${name}`,
            });
            return dep?.spec?.replicas === 0 && pods.items.length === 0;
          },
          120_000,
          50,
        );
        const t0 = performance.now();
        const r = await fetch(`${base}/v1/namespaces/${ns}/functions/${name}/invocations`, {
          method: "POST",
          headers: invokeAuth(),
          body: '{"do":"echo","i":1}',
        });
        const text = await r.text();
        if (r.status !== 200 || r.headers.get("x-updraft-function-error"))
          throw new Error(`${runtime}: ${r.status} ${text}`);
        times.push(performance.now() - t0);
      }
      results.push({
        runtime,
        p50: Math.round(percentile(times, 0.5)),
        p90: Math.round(percentile(times, 0.9)),
      });
    }
  } finally {
    server.close();
    await deleteNamespace(ns);
  }
  const sizes = execFileSync(join(ROOT, "hack/images.sh"), ["sizes"], { encoding: "utf8" });
  console.log(`\n## Cold start per runtime (${runs} each, request → answer, same run)\n`);
  console.log("| runtime | p50 ms | p90 ms | image (compressed) |\n|---|---|---|---|");
  for (const r of results) {
    const size =
      new RegExp(`runtime-${r.runtime.replace(".", "\\.")}:\\S+\\s+([\\d.]+ MB)`).exec(sizes)?.[1] ?? "?";
    console.log(`| ${r.runtime} | ${r.p50} | ${r.p90} | ${size} |`);
  }
}

main().then(
  () => process.exit(0),
  (err: unknown) => {
    console.error(err);
    process.exit(1);
  },
);
