/**
 * The local cluster is a real Kubernetes node, as a user's cluster is: a kubelet at the
 * cluster's version on containerd, CNI pod networking, kube-proxy Services, CoreDNS names,
 * a default StorageClass, Pod Security admission, and the kubelet's own behaviour for
 * crashes, memory limits and ephemeral storage. What Updraft relies on is asserted here, so
 * a broken local cluster fails in one place.
 */
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import type { V1Pod } from "@kubernetes/client-node";
import {
  applyYaml,
  core,
  deleteNamespace,
  kubectl,
  kubectlOk,
  localImageTag,
  newNamespace,
  ROOT,
  RUNTIME_IMAGE_PREFIX,
  waitFor,
} from "./harness.ts";

const K8S_VERSION = /^K8S_VERSION=(.+)$/m.exec(readFileSync(join(ROOT, "hack/versions.env"), "utf8"))![1]!;

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

async function finished(namespace: string, name: string, timeoutMs = 90_000): Promise<V1Pod> {
  return waitFor(
    `pod ${name} finished`,
    async () => {
      const p = await core.readNamespacedPod({ name, namespace });
      return p.status?.phase === "Succeeded" || p.status?.phase === "Failed" ? p : undefined;
    },
    timeoutMs,
  );
}

describe("local cluster", () => {
  let ns: string;
  // Any image of this tree with python3 and a shell: the Python runtime's.
  let image: string;
  before(async () => {
    ns = await newNamespace("cluster");
    image = `${RUNTIME_IMAGE_PREFIX}python3.11:${localImageTag()}`;
  });
  after(async () => deleteNamespace(ns));

  it("the node is a kubelet at the cluster's version on containerd, Ready, with a fresh Lease", async () => {
    const node = (await core.listNode()).items[0]!;
    const ready = node.status?.conditions?.find((c) => c.type === "Ready");
    assert.equal(ready?.status, "True");
    assert.equal(ready?.reason, "KubeletReady");
    assert.equal(node.status?.nodeInfo?.kubeletVersion, K8S_VERSION);
    assert.match(node.status?.nodeInfo?.containerRuntimeVersion ?? "", /^containerd:\/\/1\./);
    const ip = node.status?.addresses?.find((a) => a.type === "InternalIP")?.address ?? "";
    assert.match(ip, /^\d+\.\d+\.\d+\.\d+$/);
    assert.ok(!ip.startsWith("127."), "not loopback");
    const lease = kubectlOk([
      "get",
      "lease",
      "-n",
      "kube-node-lease",
      node.metadata!.name!,
      "-o",
      "jsonpath={.spec.renewTime}",
    ]);
    assert.ok(Date.now() - new Date(lease).getTime() < 60_000, `lease renewed recently: ${lease}`);
  });

  it("the apiserver runs with the front-proxy flags, so aggregated APIs (APIServices) can be served", async () => {
    const cm = await core.readNamespacedConfigMap({
      name: "extension-apiserver-authentication",
      namespace: "kube-system",
    });
    assert.match(cm.data?.["requestheader-client-ca-file"] ?? "", /BEGIN CERTIFICATE/);
    assert.equal(cm.data?.["requestheader-allowed-names"], '["front-proxy-client"]');
    assert.equal(cm.data?.["requestheader-username-headers"], '["X-Remote-User"]');
  });

  it("a Deployment scales 0→3→0 and every replica answers on its pod IP and through its ClusterIP", async () => {
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
          image: ${image}
          command: [python3, -m, http.server, "8080", "--directory", "/etc"]
          readinessProbe: {httpGet: {path: /hostname, port: 8080}, periodSeconds: 1}
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
      120_000,
    );
    const ips = ready.map((p) => p.status!.podIP!);
    assert.equal(new Set(ips).size, 3, "each replica has its own IP");
    for (const ip of ips) assert.equal((await httpGet(`http://${ip}:8080/hostname`)).status, 200);
    // kube-proxy balances the ClusterIP over the replicas: each one's hostname comes back
    // (once kube-proxy has written the new Service's rules).
    const svc = await core.readNamespacedService({ name: "web", namespace: ns });
    const names = new Set(ready.map((p) => p.metadata!.name!));
    const seen = new Set<string>();
    await waitFor(
      "every replica answered through the ClusterIP",
      async () => {
        const r = await httpGet(`http://${svc.spec!.clusterIP}/hostname`);
        if (r.status === 200) seen.add(r.body.trim());
        return [...names].every((n) => seen.has(n));
      },
      30_000,
      10,
    );
    kubectlOk(["scale", "deployment/web", "-n", ns, "--replicas=0"]);
    await waitFor(
      "pods gone and the EndpointSlice empty",
      async () => (await pods(ns, "app=web")).length === 0 && (await discovery(ns, "web")).length === 0,
      90_000,
    );
  });

  it("cluster DNS: pods resolve Services by every name and kubernetes.default.svc.cluster.local", async () => {
    applyYaml(
      ns,
      `apiVersion: v1
kind: Pod
metadata: {name: echo, labels: {app: echo}}
spec:
  containers:
    - name: c
      image: ${image}
      command: [python3, -m, http.server, "8080", "--directory", "/etc"]
      readinessProbe: {tcpSocket: {port: 8080}, periodSeconds: 1}
---
apiVersion: v1
kind: Service
metadata: {name: echo}
spec: {selector: {app: echo}, ports: [{port: 80, targetPort: 8080}]}
---
apiVersion: v1
kind: Pod
metadata: {name: resolver}
spec:
  restartPolicy: Never
  containers:
    - name: c
      image: ${image}
      command: [python3, -c]
      args:
        - |
          import socket, time, urllib.request
          ns = open('/var/run/secrets/kubernetes.io/serviceaccount/namespace').read()
          for name in ['kubernetes.default', 'kubernetes.default.svc', 'kubernetes.default.svc.cluster.local', 'echo', 'echo.' + ns, 'echo.' + ns + '.svc', 'echo.' + ns + '.svc.cluster.local']:
              print(name.replace(ns, 'NS'), socket.gethostbyname(name))
          for _ in range(100):
              try:
                  print('status', urllib.request.urlopen('http://echo/hosts', timeout=5).status)
                  break
              except Exception:
                  time.sleep(0.5)
          print(open('/etc/resolv.conf').read())
`,
    );
    await waitFor("echo listed as ready", async () => (await discovery(ns, "echo")).length === 1, 90_000);
    const p = await finished(ns, "resolver");
    const logs = kubectlOk(["logs", "-n", ns, "resolver"]);
    assert.equal(p.status?.phase, "Succeeded", logs);
    const ip = (await core.readNamespacedService({ name: "echo", namespace: ns })).spec!.clusterIP!;
    for (const name of ["echo", "echo.NS", "echo.NS.svc", "echo.NS.svc.cluster.local"]) {
      assert.ok(logs.includes(`${name} ${ip}\n`), `${name} resolves to ${ip}: ${logs}`);
    }
    assert.match(logs, /^kubernetes\.default\.svc\.cluster\.local 10\.96\.0\.1$/m);
    assert.match(logs, /^nameserver 10\.96\.0\.10$/m, "the kubelet's clusterDNS");
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
    - {name: c, image: "${image}", command: [sh, -c, "echo run $(date +%s%N); exit 3"]}
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
      90_000,
    );
    const s = containerState(p)!;
    assert.equal(s.lastState?.terminated?.exitCode, 3);
    assert.equal(s.lastState?.terminated?.reason, "Error");
    // The container restarts every few seconds and the kubelet keeps one dead container:
    // at the moment of a restart, "previous" may name one whose log is already gone.
    await waitFor("logs --previous", () =>
      /^run \d+$/m.test(kubectl(["logs", "-n", ns, "crash", "--previous"]).stdout),
    );
  });

  it("a container over its memory limit is OOMKilled", async () => {
    applyYaml(
      ns,
      `apiVersion: v1
kind: Pod
metadata: {name: oom}
spec:
  restartPolicy: Never
  containers:
    - name: c
      image: ${image}
      command: [python3, -c, "x = bytearray(200 * 1024 * 1024); print('allocated')"]
      resources: {limits: {memory: 64Mi}}
`,
    );
    const p = await finished(ns, "oom");
    const t = containerState(p)!.state!.terminated!;
    assert.equal(t.reason, "OOMKilled");
    assert.equal(t.exitCode, 137);
    assert.equal(p.status?.phase, "Failed");
  });

  it("a disk-backed emptyDir written past its sizeLimit gets the pod evicted (the shape of a function's /tmp)", async () => {
    applyYaml(
      ns,
      `apiVersion: v1
kind: Pod
metadata: {name: fill}
spec:
  restartPolicy: Never
  containers:
    - name: c
      image: ${image}
      command: [sh, -c, "dd if=/dev/zero of=/tmp/big bs=1M count=600 && echo wrote && sleep 300"]
      volumeMounts: [{name: tmp, mountPath: /tmp}]
  volumes: [{name: tmp, emptyDir: {sizeLimit: 512Mi}}]
`,
    );
    const p = await finished(ns, "fill", 180_000);
    assert.equal(p.status?.phase, "Failed");
    assert.equal(p.status?.reason, "Evicted");
    assert.match(p.status?.message ?? "", /Usage of EmptyDir volume "tmp" exceeds the limit "512Mi"/);
  });

  it("a PersistentVolumeClaim binds on the default StorageClass and keeps data across pods", async () => {
    const writer = (name: string, cmd: string) => `apiVersion: v1
kind: Pod
metadata: {name: ${name}}
spec:
  restartPolicy: Never
  securityContext: {runAsUser: 1000, fsGroup: 1000}
  containers:
    - {name: c, image: "${image}", command: [sh, -c, "${cmd}"], volumeMounts: [{name: d, mountPath: /data}]}
  volumes: [{name: d, persistentVolumeClaim: {claimName: data}}]
`;
    applyYaml(
      ns,
      `apiVersion: v1
kind: PersistentVolumeClaim
metadata: {name: data}
spec: {accessModes: [ReadWriteOnce], resources: {requests: {storage: 64Mi}}}
---
${writer("write", "echo kept > /data/f")}`,
    );
    assert.equal((await finished(ns, "write", 120_000)).status?.phase, "Succeeded");
    const pvc = await core.readNamespacedPersistentVolumeClaim({ name: "data", namespace: ns });
    assert.equal(pvc.status?.phase, "Bound");
    assert.equal(pvc.spec?.storageClassName, "local-path");
    applyYaml(ns, writer("read", "cat /data/f"));
    assert.equal((await finished(ns, "read")).status?.phase, "Succeeded");
    assert.equal(kubectlOk(["logs", "-n", ns, "read"]).trim(), "kept");
  });

  it("a namespace labelled restricted refuses a pod that runs as root or keeps capabilities", async () => {
    kubectlOk(["label", "namespace", ns, "pod-security.kubernetes.io/enforce=restricted"]);
    try {
      const r = kubectl(
        ["apply", "-n", ns, "-f", "-"],
        `apiVersion: v1
kind: Pod
metadata: {name: rooted}
spec:
  containers: [{name: c, image: "${image}", command: [sleep, "60"]}]
`,
      );
      assert.notEqual(r.code, 0);
      assert.match(r.stderr, /violates PodSecurity "restricted:latest"/);
    } finally {
      kubectlOk(["label", "namespace", ns, "pod-security.kubernetes.io/enforce-"]);
    }
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
      image: ${image}
      env:
        - {name: MY_NAMESPACE, valueFrom: {fieldRef: {fieldPath: metadata.namespace}}}
      command: [python3, -c]
      args:
        - |
          import os, ssl, urllib.request, urllib.error
          sa = '/var/run/secrets/kubernetes.io/serviceaccount'
          token = open(sa + '/token').read()
          ctx = ssl.create_default_context(cafile=sa + '/ca.crt')
          base = 'https://kubernetes.default.svc.cluster.local'
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
    await finished(ns, "incluster");
    const logs = kubectlOk(["logs", "-n", ns, "incluster"]);
    assert.match(logs, /^pods 200$/m, logs);
    assert.match(logs, /^secrets 403$/m, logs);
    assert.match(logs, /^nodes 403$/m, logs);
  });

  it("an image the registry does not hold fails to pull (ErrImagePull, then ImagePullBackOff)", async () => {
    applyYaml(
      ns,
      `apiVersion: v1
kind: Pod
metadata: {name: nopull}
spec:
  containers: [{name: c, image: "localhost:5000/updraft/no-such-image:1", command: [sh]}]
`,
    );
    const reason = await waitFor(
      "a pull failure",
      async () => {
        const r = containerState(await core.readNamespacedPod({ name: "nopull", namespace: ns }))?.state
          ?.waiting?.reason;
        return r === "ErrImagePull" || r === "ImagePullBackOff" ? r : undefined;
      },
      60_000,
    );
    assert.ok(reason);
  });
});
