/**
 * The node agent on the real local cluster: Deployments, Services, EndpointSlices, probes,
 * restarts, limits and logs behave as a kubelet's would.
 */
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import type { V1Pod } from "@kubernetes/client-node";
import { sandboxNames } from "../../src/node/sandbox.ts";
import {
  applyYaml,
  core,
  deleteNamespace,
  kubectl,
  kubectlOk,
  newNamespace,
  ROOT,
  waitFor,
} from "./harness.ts";

const discovery = async (namespace: string, service: string) => {
  const out = kubectlOk([
    "get",
    "endpointslices",
    "-n",
    namespace,
    "-l",
    `kubernetes.io/service-name=${service}`,
    "-o",
    "json",
  ]);
  const list = JSON.parse(out) as {
    items: Array<{ endpoints?: Array<{ addresses: string[]; conditions?: { ready?: boolean } }> }>;
  };
  return list.items.flatMap((s) =>
    (s.endpoints ?? []).filter((e) => e.conditions?.ready).flatMap((e) => e.addresses),
  );
};

async function pods(namespace: string, selector: string): Promise<V1Pod[]> {
  return (await core.listNamespacedPod({ namespace, labelSelector: selector })).items;
}

const containerState = (p: V1Pod | undefined) => p?.status?.containerStatuses?.[0];

async function httpGet(url: string): Promise<{ status: number; body: string }> {
  const res = await fetch(url, { signal: AbortSignal.timeout(3000) });
  return { status: res.status, body: await res.text() };
}

describe("node agent", () => {
  let ns: string;
  before(async () => {
    ns = await newNamespace("node");
  });
  after(async () => deleteNamespace(ns));

  it("the node is Ready with capacity, an InternalIP and a fresh Lease", async () => {
    const node = (await core.listNode()).items[0]!;
    const ready = node.status?.conditions?.find((c) => c.type === "Ready");
    assert.equal(ready?.status, "True");
    assert.equal(ready?.reason, "KubeletReady");
    const ip = node.status?.addresses?.find((a) => a.type === "InternalIP")?.address ?? "";
    assert.match(ip, /^\d+\.\d+\.\d+\.\d+$/);
    assert.ok(!ip.startsWith("127."), "not loopback");
    assert.ok(Number(node.status?.capacity?.cpu) >= 1);
    const lease = kubectlOk([
      "get",
      "lease",
      "-n",
      "kube-node-lease",
      node.metadata!.name!,
      "-o",
      "jsonpath={.spec.renewTime}",
    ]);
    assert.ok(Date.now() - new Date(lease).getTime() < 30_000, `lease renewed recently: ${lease}`);
  });

  it("a Deployment scales 0→3→0 and every replica answers on its pod IP and through its Service", async () => {
    applyYaml(
      ns,
      `apiVersion: apps/v1
kind: Deployment
metadata: {name: web}
spec:
  replicas: 0
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec:
      containers:
        - name: web
          image: python:3.12-slim
          command: [python3, -m, http.server, "8080"]
          readinessProbe: {httpGet: {path: /, port: 8080}, periodSeconds: 1}
          securityContext: {runAsUser: 1000, readOnlyRootFilesystem: true}
---
apiVersion: v1
kind: Service
metadata: {name: web}
spec: {selector: {app: web}, ports: [{port: 80, targetPort: 8080}]}
`,
    );
    kubectlOk(["scale", "deployment/web", "-n", ns, "--replicas=3"]);
    const ready = await waitFor(
      "3 ready replicas listed in the EndpointSlice",
      async () => {
        const ps = (await pods(ns, "app=web")).filter((p) =>
          p.status?.conditions?.some((c) => c.type === "Ready" && c.status === "True"),
        );
        const eps = await discovery(ns, "web");
        return ps.length === 3 && eps.length === 3 ? ps : undefined;
      },
      60_000,
    );
    const ips = ready.map((p) => p.status!.podIP!);
    assert.equal(new Set(ips).size, 3, "each replica has its own IP");
    for (const ip of ips)
      assert.equal((await httpGet(`http://${ip}:8080/`)).status, 200, `pod ${ip} answers`);
    const svc = await core.readNamespacedService({ name: "web", namespace: ns });
    for (let i = 0; i < 6; i++) {
      assert.equal((await httpGet(`http://${svc.spec!.clusterIP}/`)).status, 200, "the ClusterIP answers");
    }
    // The Service balances: the replicas' access logs all got requests.
    await waitFor("every replica served a ClusterIP request", () =>
      ready.every((p) => kubectlOk(["logs", "-n", ns, p.metadata!.name!]).includes("GET / HTTP/1.1")),
    );
    kubectlOk(["scale", "deployment/web", "-n", ns, "--replicas=0"]);
    await waitFor(
      "pods gone and the EndpointSlice empty",
      async () => {
        return (await pods(ns, "app=web")).length === 0 && (await discovery(ns, "web")).length === 0;
      },
      60_000,
    );
    // Nothing of the pods is left on the machine: no network namespace, veth, cgroup or state.
    const netns = execFileSync("ip", ["netns", "list"], { encoding: "utf8" });
    const links = execFileSync("ip", ["-o", "link"], { encoding: "utf8" });
    for (const p of ready) {
      const names = sandboxNames("/run/updraft-node", p.metadata!.uid!);
      assert.ok(!netns.includes(names.netns), `${names.netns} removed`);
      assert.ok(
        !links.includes(`${names.hostVeth}@`) && !links.includes(`${names.hostVeth}:`),
        `${names.hostVeth} removed`,
      );
      assert.ok(!existsSync(`/sys/fs/cgroup/memory/updraft/${p.metadata!.uid}`), "cgroup removed");
      assert.ok(!existsSync(names.podDir), "pod state removed");
    }
  });

  it("service names resolve inside pods, and pods reach ClusterIPs", async () => {
    applyYaml(
      ns,
      `apiVersion: v1
kind: Pod
metadata: {name: echo, labels: {app: echo}}
spec:
  containers:
    - name: c
      image: python:3.12
      command: [python3, -m, http.server, "8080", "--directory", "/etc"]
      readinessProbe: {tcpSocket: {port: 8080}, periodSeconds: 1}
---
apiVersion: v1
kind: Service
metadata: {name: echo}
spec: {selector: {app: echo}, ports: [{port: 80, targetPort: 8080}]}
`,
    );
    await waitFor("echo listed as ready", async () => (await discovery(ns, "echo")).length === 1, 60_000);
    applyYaml(
      ns,
      `apiVersion: v1
kind: Pod
metadata: {name: resolver}
spec:
  restartPolicy: Never
  containers:
    - name: c
      image: python:3.12
      command: [python3, -c]
      args:
        - |
          import socket, urllib.request
          ns = open('/var/run/secrets/kubernetes.io/serviceaccount/namespace').read()
          for name in ['kubernetes.default', 'kubernetes.default.svc', 'kubernetes.default.svc.cluster.local', 'echo', 'echo.' + ns, 'echo.' + ns + '.svc', 'echo.' + ns + '.svc.cluster.local']:
              print(name.replace(ns, 'NS'), socket.gethostbyname(name))
          print('status', urllib.request.urlopen('http://echo/hosts', timeout=5).status)
`,
    );
    const phase = await waitFor(
      "resolver finished",
      async () => {
        const p = await core.readNamespacedPod({ name: "resolver", namespace: ns });
        return p.status?.phase === "Succeeded" || p.status?.phase === "Failed" ? p.status.phase : undefined;
      },
      60_000,
    );
    const logs = kubectlOk(["logs", "-n", ns, "resolver"]);
    assert.equal(phase, "Succeeded", logs);
    const ip = (await core.readNamespacedService({ name: "echo", namespace: ns })).spec!.clusterIP!;
    for (const name of ["echo", "echo.NS", "echo.NS.svc", "echo.NS.svc.cluster.local"]) {
      assert.ok(logs.includes(`${name} ${ip}\n`), `${name} resolves to ${ip}: ${logs}`);
    }
    assert.match(logs, /^kubernetes\.default\.svc\.cluster\.local 10\.96\.0\.1$/m);
    assert.match(logs, /^status 200$/m);
  });

  it("a crashing container reaches CrashLoopBackOff and kubectl logs --previous shows its output", async () => {
    applyYaml(
      ns,
      `apiVersion: v1
kind: Pod
metadata: {name: crash}
spec:
  containers:
    - {name: c, image: busybox, command: [sh, -c, "echo run $(date +%s%N); exit 3"]}
`,
    );
    const p = await waitFor(
      "CrashLoopBackOff after a restart",
      async () => {
        const pod = await core.readNamespacedPod({ name: "crash", namespace: ns });
        const s = containerState(pod);
        return s?.state?.waiting?.reason === "CrashLoopBackOff" && (s.restartCount ?? 0) >= 1
          ? pod
          : undefined;
      },
      60_000,
    );
    const s = containerState(p)!;
    assert.equal(s.lastState?.terminated?.exitCode, 3);
    assert.equal(s.lastState?.terminated?.reason, "Error");
    assert.match(s.state?.waiting?.message ?? "", /^back-off \d+s restarting failed container=c pod=crash_/);
    assert.equal(p.status?.phase, "Running");
    assert.match(kubectlOk(["logs", "-n", ns, "crash", "--previous"]), /^run \d+$/m);
  });

  it("a container over its memory limit is reported OOMKilled", async () => {
    applyYaml(
      ns,
      `apiVersion: v1
kind: Pod
metadata: {name: oom}
spec:
  restartPolicy: Never
  containers:
    - name: c
      image: python:3.12
      command: [python3, -c, "x = bytearray(200 * 1024 * 1024); print('allocated')"]
      resources: {limits: {memory: 64Mi}}
`,
    );
    const p = await waitFor(
      "oom terminated",
      async () => {
        const pod = await core.readNamespacedPod({ name: "oom", namespace: ns });
        return containerState(pod)?.state?.terminated ? pod : undefined;
      },
      60_000,
    );
    const t = containerState(p)!.state!.terminated!;
    assert.equal(t.reason, "OOMKilled");
    assert.equal(t.exitCode, 137);
    assert.equal(p.status?.phase, "Failed");
  });

  it("writing 600 MiB to a 512 Mi emptyDir fails with ENOSPC", async () => {
    applyYaml(
      ns,
      `apiVersion: v1
kind: Pod
metadata: {name: fill}
spec:
  restartPolicy: Never
  containers:
    - name: c
      image: debian:12
      command: [sh, -c, "dd if=/dev/zero of=/data/big bs=1M count=600 2>&1; echo exit=$?"]
      volumeMounts: [{name: data, mountPath: /data}]
  volumes: [{name: data, emptyDir: {sizeLimit: 512Mi}}]
`,
    );
    await waitFor(
      "fill done",
      async () => {
        const pod = await core.readNamespacedPod({ name: "fill", namespace: ns });
        return pod.status?.phase === "Succeeded";
      },
      60_000,
    );
    const logs = kubectlOk(["logs", "-n", ns, "fill"]);
    assert.match(logs, /No space left on device/);
    assert.match(logs, /exit=1/);
    assert.match(logs, /536870912 bytes/, "exactly 512 MiB fit");
  });

  it("a pod using in-cluster configuration can do what its RBAC allows and is refused the rest", async () => {
    applyYaml(
      ns,
      `apiVersion: v1
kind: ServiceAccount
metadata: {name: reader}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: Role
metadata: {name: pod-reader}
rules: [{apiGroups: [""], resources: [pods], verbs: [get, list]}]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata: {name: reader}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: Role, name: pod-reader}
subjects: [{kind: ServiceAccount, name: reader}]
---
apiVersion: v1
kind: Pod
metadata: {name: incluster}
spec:
  serviceAccountName: reader
  restartPolicy: Never
  securityContext: {runAsUser: 1000, runAsNonRoot: true}
  containers:
    - name: c
      image: python:3.12
      env:
        - {name: MY_NAMESPACE, valueFrom: {fieldRef: {fieldPath: metadata.namespace}}}
      command: [python3, -c]
      args:
        - |
          import json, os, ssl, urllib.request, urllib.error
          sa = '/var/run/secrets/kubernetes.io/serviceaccount'
          token = open(sa + '/token').read()
          ctx = ssl.create_default_context(cafile=sa + '/ca.crt')
          base = 'https://%s:%s' % (os.environ['KUBERNETES_SERVICE_HOST'], os.environ['KUBERNETES_SERVICE_PORT'])
          def get(path):
              req = urllib.request.Request(base + path, headers={'Authorization': 'Bearer ' + token})
              try:
                  return urllib.request.urlopen(req, context=ctx, timeout=10).status
              except urllib.error.HTTPError as e:
                  return e.code
          ns = os.environ['MY_NAMESPACE']
          print('pods', get('/api/v1/namespaces/%s/pods' % ns))
          print('secrets', get('/api/v1/namespaces/%s/secrets' % ns))
          print('nodes', get('/api/v1/nodes'))
`,
    );
    await waitFor(
      "incluster done",
      async () => {
        const pod = await core.readNamespacedPod({ name: "incluster", namespace: ns });
        return pod.status?.phase === "Succeeded" || pod.status?.phase === "Failed";
      },
      60_000,
    );
    const logs = kubectlOk(["logs", "-n", ns, "incluster"]);
    assert.match(logs, /^pods 200$/m, logs);
    assert.match(logs, /^secrets 403$/m, logs);
    assert.match(logs, /^nodes 403$/m, logs);
  });

  it("kubectl logs -f follows a running container", async () => {
    applyYaml(
      ns,
      `apiVersion: v1
kind: Pod
metadata: {name: ticker}
spec:
  containers:
    - {name: c, image: busybox, command: [sh, -c, "i=0; while true; do echo tick $i; i=$((i+1)); sleep 0.2; done"]}
`,
    );
    await waitFor("ticker running", async () => {
      const pod = await core.readNamespacedPod({ name: "ticker", namespace: ns });
      return !!containerState(pod)?.state?.running;
    });
    const r = kubectl(["logs", "-f", "-n", ns, "ticker", "--request-timeout=3s"]);
    // The follow stream ends at the request timeout; it must have delivered lines written after it began.
    const ticks = (r.stdout.match(/^tick \d+$/gm) ?? []).length;
    assert.ok(ticks >= 5, `followed ${ticks} lines: ${r.stderr}`);
  });

  it("deleting a pod stops it gracefully: SIGTERM first, then the final delete", async () => {
    applyYaml(
      ns,
      `apiVersion: v1
kind: Pod
metadata: {name: graceful}
spec:
  terminationGracePeriodSeconds: 20
  containers:
    - name: c
      image: python:3.12
      command: [python3, -u, -c]
      args:
        - |
          import signal, sys, time
          def bye(*_):
              print('got SIGTERM', flush=True)
              sys.exit(0)
          signal.signal(signal.SIGTERM, bye)
          print('up', flush=True)
          while True: time.sleep(0.1)
`,
    );
    await waitFor("graceful up", () => kubectl(["logs", "-n", ns, "graceful"]).stdout.includes("up"));
    const t0 = Date.now();
    kubectlOk(["delete", "pod", "graceful", "-n", ns, "--wait=true", "--timeout=30s"]);
    const took = Date.now() - t0;
    assert.ok(took < 15_000, `the pod exited on SIGTERM instead of waiting the grace period (${took} ms)`);
    const gone = kubectl(["get", "pod", "graceful", "-n", ns]);
    assert.notEqual(gone.code, 0, "the pod object is deleted");
  });

  it("an image not in the node's table fails like a failed pull", async () => {
    applyYaml(
      ns,
      `apiVersion: v1
kind: Pod
metadata: {name: nopull}
spec:
  containers: [{name: c, image: example.com/unknown/image:1, command: ["true"]}]
`,
    );
    const p = await waitFor("ErrImagePull", async () => {
      const pod = await core.readNamespacedPod({ name: "nopull", namespace: ns });
      return containerState(pod)?.state?.waiting?.reason === "ErrImagePull" ? pod : undefined;
    });
    assert.match(containerState(p)?.state?.waiting?.message ?? "", /not in this node's image table/);
    assert.equal(p.status?.phase, "Pending");
  });

  it("the agent can be killed and restarted: its pods are replaced cleanly and nothing leaks", async () => {
    applyYaml(
      ns,
      `apiVersion: apps/v1
kind: Deployment
metadata: {name: survivor}
spec:
  replicas: 2
  selector: {matchLabels: {app: survivor}}
  template:
    metadata: {labels: {app: survivor}}
    spec:
      containers:
        - name: c
          image: python:3.12
          command: [python3, -m, http.server, "8080"]
          readinessProbe: {httpGet: {path: /, port: 8080}, periodSeconds: 1}
`,
    );
    const readyIPs = async () =>
      (await pods(ns, "app=survivor"))
        .filter((p) => p.status?.conditions?.some((c) => c.type === "Ready" && c.status === "True"))
        .map((p) => p.status!.podIP!);
    await waitFor("2 ready", async () => (await readyIPs()).length === 2, 60_000);
    const dir = process.env.UPDRAFT_CLUSTER_DIR ?? join(ROOT, ".cluster");
    const pid = Number(readFileSync(join(dir, "run/updraft-node.pid"), "utf8"));
    process.kill(pid, "SIGKILL");
    await waitFor("agent gone", () => {
      try {
        process.kill(pid, 0);
        return false;
      } catch {
        return true;
      }
    });
    execFileSync(join(ROOT, "hack/cluster.sh"), ["up"], { stdio: "ignore" });
    const ips = await waitFor(
      "2 ready again, answering",
      async () => {
        const list = await readyIPs();
        if (list.length !== 2) return undefined;
        for (const ip of list) if ((await httpGet(`http://${ip}:8080/`)).status !== 200) return undefined;
        return list;
      },
      60_000,
    );
    assert.equal(ips.length, 2);
    // One network namespace and one cgroup per pod on the node: nothing of the killed agent's is left.
    const podsOnNode = (await core.listPodForAllNamespaces({ fieldSelector: "spec.nodeName=updraft-local" }))
      .items;
    const netns = execFileSync("ip", ["netns", "list"], { encoding: "utf8" })
      .split("\n")
      .filter((l) => l.startsWith("updraft-"));
    assert.equal(netns.length, podsOnNode.length, `netns ${netns.length} vs pods ${podsOnNode.length}`);
    const cgroups = readdirSync("/sys/fs/cgroup/memory/updraft", { withFileTypes: true })
      .filter((e) => e.isDirectory())
      .map((e) => e.name);
    const orphans = cgroups.filter((uid) => !podsOnNode.some((p) => p.metadata?.uid === uid));
    const podList = podsOnNode.map((p) => `${p.metadata?.name}=${p.metadata?.uid}`).join(", ");
    assert.deepEqual(orphans, [], `orphan cgroups; pods: ${podList}`);
    kubectlOk(["delete", "deployment", "survivor", "-n", ns]);
  });

  it("volumes land at their mount paths; the root is read-only when asked", async () => {
    applyYaml(
      ns,
      `apiVersion: v1
kind: ConfigMap
metadata: {name: settings}
data: {greeting: hello, other: x}
---
apiVersion: v1
kind: Secret
metadata: {name: creds}
stringData: {password: hunter2}
---
apiVersion: v1
kind: Pod
metadata: {name: vols, labels: {team: blue}}
spec:
  restartPolicy: Never
  securityContext: {runAsUser: 1000, runAsGroup: 1000}
  containers:
    - name: c
      image: debian:12
      workingDir: /data
      command: [sh, -c]
      args:
        - |
          echo "cm=$(cat /etc/settings/greeting)"
          echo "items=$(ls /etc/only)"
          echo "secret=$(cat /etc/creds/password)"
          echo "labels=$(cat /etc/podinfo/labels)"
          echo "name=$(cat /etc/podinfo/name)"
          echo "pwd=$(pwd) uid=$(id -u) gid=$(id -g)"
          echo x > /data/ok && echo "emptydir=writable"
          echo x > /etc/nope 2>/dev/null && echo "root=writable" || echo "root=read-only"
          echo x > /etc/settings/greeting 2>/dev/null && echo "cm=writable" || echo "cm=read-only"
      securityContext: {readOnlyRootFilesystem: true}
      volumeMounts:
        - {name: settings, mountPath: /etc/settings}
        - {name: only, mountPath: /etc/only}
        - {name: creds, mountPath: /etc/creds, readOnly: true}
        - {name: podinfo, mountPath: /etc/podinfo}
        - {name: data, mountPath: /data}
  volumes:
    - {name: settings, configMap: {name: settings}}
    - {name: only, configMap: {name: settings, items: [{key: greeting, path: renamed}]}}
    - {name: creds, secret: {secretName: creds}}
    - name: podinfo
      downwardAPI:
        items:
          - {path: labels, fieldRef: {fieldPath: metadata.labels}}
          - {path: name, fieldRef: {fieldPath: metadata.name}}
    - {name: data, emptyDir: {medium: Memory, sizeLimit: 16Mi}}
`,
    );
    await waitFor(
      "vols done",
      async () => {
        const pod = await core.readNamespacedPod({ name: "vols", namespace: ns });
        return pod.status?.phase === "Succeeded" || pod.status?.phase === "Failed";
      },
      60_000,
    );
    const logs = kubectlOk(["logs", "-n", ns, "vols"]);
    for (const line of [
      "cm=hello",
      "items=renamed",
      "secret=hunter2",
      'labels=team="blue"',
      "name=vols",
      "pwd=/data uid=1000 gid=1000",
      "emptydir=writable",
      "root=read-only",
      "cm=read-only",
    ]) {
      assert.ok(logs.split("\n").includes(line), `${line} in:\n${logs}`);
    }
  });

  it("a failing liveness probe (exec) restarts the container; a startup probe holds readiness back", async () => {
    applyYaml(
      ns,
      `apiVersion: v1
kind: Pod
metadata: {name: probed}
spec:
  containers:
    - name: c
      image: python:3.12
      command: [python3, -u, -c]
      args:
        - |
          import http.server, os, threading, time
          open('/tmp/alive', 'w').close()
          # Healthy for a moment, then the liveness file goes away.
          threading.Timer(3, lambda: os.remove('/tmp/alive')).start()
          http.server.HTTPServer(('', 8080), http.server.SimpleHTTPRequestHandler).serve_forever()
      startupProbe: {tcpSocket: {port: 8080}, periodSeconds: 1, failureThreshold: 30}
      readinessProbe: {httpGet: {path: /, port: 8080}, periodSeconds: 1}
      livenessProbe: {exec: {command: [test, -f, /tmp/alive]}, periodSeconds: 1, failureThreshold: 2}
      volumeMounts: [{name: tmp, mountPath: /tmp}]
  volumes: [{name: tmp, emptyDir: {}}]
`,
    );
    const ready = await waitFor(
      "probed Ready",
      async () => {
        const pod = await core.readNamespacedPod({ name: "probed", namespace: ns });
        const s = containerState(pod);
        return s?.ready && s.started ? pod : undefined;
      },
      60_000,
    );
    assert.equal(containerState(ready)?.restartCount, 0);
    const restarted = await waitFor(
      "restarted by liveness",
      async () => {
        const pod = await core.readNamespacedPod({ name: "probed", namespace: ns });
        return (containerState(pod)?.restartCount ?? 0) >= 1 ? pod : undefined;
      },
      60_000,
    );
    const last = containerState(restarted)?.lastState?.terminated;
    assert.ok(last, "the killed run is in lastState");
  });

  it("two containers of a pod share an emptyDir", async () => {
    applyYaml(
      ns,
      `apiVersion: v1
kind: Pod
metadata: {name: shared}
spec:
  restartPolicy: Never
  containers:
    - name: writer
      image: busybox
      command: [sh, -c, "echo from-writer > /shared/note"]
      volumeMounts: [{name: s, mountPath: /shared}]
    - name: reader
      image: busybox
      command: [sh, -c, "i=0; until [ -f /shared/note ] || [ $i -ge 100 ]; do sleep 0.1; i=$((i+1)); done; cat /shared/note"]
      volumeMounts: [{name: s, mountPath: /shared}]
  volumes: [{name: s, emptyDir: {}}]
`,
    );
    await waitFor(
      "shared done",
      async () => {
        const pod = await core.readNamespacedPod({ name: "shared", namespace: ns });
        return pod.status?.phase === "Succeeded" || pod.status?.phase === "Failed";
      },
      60_000,
    );
    assert.equal(kubectlOk(["logs", "-n", ns, "shared", "-c", "reader"]).trim(), "from-writer");
  });
});
