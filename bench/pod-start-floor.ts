/**
 * The floor of any cold start that starts a pod on request, on this node: from the scale-up
 * (a Deployment's replicas 0 → 1, written through the API as the autoscaler writes it) to
 * the first line of a Node.js process in the new pod reaching the bench over the pod network.
 * Nothing of Updraft takes part: no shim, no function, no activator — what is measured is
 * the API, the controllers, the scheduler, the kubelet, containerd and runc.
 *
 * Two pod shapes, alternated run by run so both see the same machine:
 *   - bare:      no volume at all (and no ServiceAccount token);
 *   - emptyDir:  one emptyDir at /tmp on a read-only root, as every function pod has
 *                (a writable 512 MiB /tmp under a read-only root needs a volume).
 * Each run starts at a random moment (0–1 s after the last pod went), so runs do not keep
 * step with the kubelet's 1 s relist. Baseline, same run: the same `node -e` script started
 * as a bare process on the host until it reaches the same listener.
 *
 *   node bench/pod-start-floor.ts [runs per shape]
 */
import { spawn } from "node:child_process";
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { PatchStrategy, setHeaderOptions } from "@kubernetes/client-node";
import {
  apps,
  core,
  deleteNamespace,
  localImageTag,
  newNamespace,
  RUNTIME_IMAGE_PREFIX,
  waitFor,
} from "../test/integration/harness.ts";
import { percentile } from "./load.ts";

const runs = Number(process.argv[2] ?? 10);
// The node's bridge address: where pods reach the host (the cluster's own services use it).
const HOST_FROM_PODS = process.env.UPDRAFT_NODE_IP ?? "10.244.0.1";

type Shape = "bare" | "emptyDir";

/** Waits for the next POST to the listener; resolves with its arrival time. */
function listener(): Promise<{ port: number; next: () => Promise<number>; close: () => void }> {
  let waiting: ((t: number) => void) | undefined;
  const server = createServer((req, res) => {
    const t = performance.now();
    req.resume();
    res.end();
    waiting?.(t);
    waiting = undefined;
  });
  return new Promise((resolve) =>
    server.listen(0, "0.0.0.0", () =>
      resolve({
        port: (server.address() as AddressInfo).port,
        next: () => new Promise((r) => (waiting = r)),
        close: () => server.close(),
      }),
    ),
  );
}

const script = (url: string) =>
  `require("http").request(${JSON.stringify(url)},{method:"POST"},r=>{r.resume();r.on("end",()=>setInterval(()=>{},1e9))}).end()`;

function deployment(shape: Shape, url: string) {
  const image = `${RUNTIME_IMAGE_PREFIX}nodejs24:${localImageTag()}`;
  return {
    metadata: { name: shape.toLowerCase() },
    spec: {
      replicas: 0,
      selector: { matchLabels: { app: shape.toLowerCase() } },
      template: {
        metadata: { labels: { app: shape.toLowerCase() } },
        spec: {
          terminationGracePeriodSeconds: 0,
          automountServiceAccountToken: false,
          enableServiceLinks: false,
          containers: [
            {
              name: "floor",
              image,
              command: ["node", "-e", script(url)],
              securityContext: {
                runAsNonRoot: true,
                runAsUser: 10001,
                readOnlyRootFilesystem: true,
                allowPrivilegeEscalation: false,
                capabilities: { drop: ["ALL"] },
              },
              volumeMounts: shape === "emptyDir" ? [{ name: "tmp", mountPath: "/tmp" }] : [],
            },
          ],
          volumes: shape === "emptyDir" ? [{ name: "tmp", emptyDir: { sizeLimit: "512Mi" } }] : [],
        },
      },
    },
  };
}

async function scale(ns: string, shape: Shape, replicas: number): Promise<void> {
  await apps.patchNamespacedDeploymentScale(
    { name: shape.toLowerCase(), namespace: ns, body: { spec: { replicas } } },
    setHeaderOptions("Content-Type", PatchStrategy.MergePatch),
  );
}

async function main(): Promise<void> {
  const ns = await newNamespace("bench-pod-floor");
  const l = await listener();
  const url = `http://${HOST_FROM_PODS}:${l.port}/up`;
  try {
    for (const shape of ["bare", "emptyDir"] as const)
      await apps.createNamespacedDeployment({ namespace: ns, body: deployment(shape, url) });
    const ms: Record<Shape | "hostProcess", number[]> = { bare: [], emptyDir: [], hostProcess: [] };
    for (let i = 0; i < runs; i++) {
      {
        const arrived = l.next();
        const t0 = performance.now();
        const p = spawn(process.execPath, ["-e", script(`http://127.0.0.1:${l.port}/up`)], {
          stdio: "ignore",
        });
        ms.hostProcess.push((await arrived) - t0);
        p.kill("SIGKILL");
      }
      for (const shape of ["bare", "emptyDir"] as const) {
        await new Promise((r) => setTimeout(r, Math.random() * 1000));
        const arrived = l.next();
        const t0 = performance.now();
        await scale(ns, shape, 1);
        const t = await Promise.race([
          arrived,
          new Promise<never>((_, reject) =>
            setTimeout(() => reject(new Error(`${shape}: no pod reached the bench in 60 s`)), 60_000).unref(),
          ),
        ]);
        ms[shape].push(t - t0);
        await scale(ns, shape, 0);
        await waitFor(
          `${shape} scaled to zero`,
          async () =>
            (await core.listNamespacedPod({ namespace: ns, labelSelector: `app=${shape.toLowerCase()}` }))
              .items.length === 0,
          60_000,
          50,
        );
      }
    }
    const stats = (xs: number[]) => ({
      median: Math.round(percentile(xs, 0.5)),
      p90: Math.round(percentile(xs, 0.9)),
      min: Math.round(Math.min(...xs)),
    });
    const bare = stats(ms.bare);
    const empty = stats(ms.emptyDir);
    console.log(
      JSON.stringify(
        {
          runs,
          scaleUpToFirstLineMs: { bare, emptyDir: empty },
          hostProcessStartMs: stats(ms.hostProcess),
          emptyDirAddsMedianMs: empty.median - bare.median,
        },
        null,
        2,
      ),
    );
  } finally {
    l.close();
    await deleteNamespace(ns);
  }
}

main().then(
  () => process.exit(0),
  (err: unknown) => {
    console.error(err);
    process.exit(1);
  },
);
