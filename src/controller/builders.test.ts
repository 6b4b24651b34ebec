import assert from "node:assert/strict";
import { describe, it } from "node:test";
import type { UpdraftFunction } from "../api/v1alpha1.ts";
import {
  childName,
  codeConfigMapName,
  codeSha256,
  deploymentSpecHash,
  functionUrl,
  httpTriggerUrl,
  makeCodeConfigMap,
  makeDeployment,
  makePoolDeployment,
  makeService,
} from "./builders.ts";

const cfg = {
  runtimeImage: (r: string) => `updraft/runtime-${r}:test`,
  activatorUrl: "http://activator:8080/",
};

function fn(spec: Partial<UpdraftFunction["spec"]> = {}, name = "hello"): UpdraftFunction {
  return {
    apiVersion: "updraft.dev/v1alpha1",
    kind: "Function",
    metadata: { name, namespace: "ns1", uid: "uid-1", generation: 1 },
    spec: {
      runtime: "nodejs24",
      handler: "index.main_handler",
      code: { inline: { "index.js": "x" } },
      ...spec,
    },
  };
}

describe("makeDeployment replicas at creation", () => {
  const cases: Array<{ why: string; spec: Partial<UpdraftFunction["spec"]>; want: number }> = [
    { why: "a plain function starts at zero and wakes on demand", spec: {}, want: 0 },
    {
      why: "provisioned instances must be warm from the start",
      spec: { concurrency: { provisioned: 3 } },
      want: 3,
    },
    {
      why: "minInstances keeps instances even without traffic",
      spec: { scaling: { minInstances: 2 } },
      want: 2,
    },
    {
      why: "the larger of provisioned and minInstances wins",
      spec: { concurrency: { provisioned: 1 }, scaling: { minInstances: 4 } },
      want: 4,
    },
  ];
  for (const c of cases) {
    it(c.why, () => {
      assert.equal(makeDeployment(fn(c.spec), cfg, "sha").spec?.replicas, c.want);
    });
  }
});

describe("makeDeployment pod", () => {
  const cases: Array<{
    why: string;
    spec: Partial<UpdraftFunction["spec"]>;
    check: (d: ReturnType<typeof makeDeployment>) => void;
  }> = [
    {
      why: "the runtime image is chosen by runtime",
      spec: { runtime: "python3.11" },
      check: (d) =>
        assert.equal(d.spec?.template.spec?.containers[0]?.image, "updraft/runtime-python3.11:test"),
    },
    {
      why: "an image function runs the user's image unchanged (no command) beside the shim, which alone is probed",
      spec: { runtime: "custom", handler: undefined, memoryMB: 256, code: { image: "example.com/me/fn:1" } },
      check: (d) => {
        const [shim, user] = d.spec!.template.spec!.containers;
        assert.equal(shim?.name, "shim");
        assert.equal(shim?.image, "updraft/runtime-nodejs24:test");
        assert.ok(shim?.env?.some((e) => e.name === "UPDRAFT_IMAGE_FUNCTION" && e.value === "true"));
        assert.ok(shim?.readinessProbe);
        assert.equal(user?.image, "example.com/me/fn:1");
        assert.equal(user?.command, undefined, "the image's own entrypoint");
        assert.equal(user?.readinessProbe, undefined);
        // The function's memory is the user's container's limit; the shim has its own 128 Mi.
        assert.equal(user?.resources?.limits?.memory, "256Mi");
        assert.equal(shim?.resources?.limits?.memory, "128Mi");
        assert.equal(user?.securityContext?.readOnlyRootFilesystem, true);
        assert.deepEqual(user?.volumeMounts, [{ name: "tmp", mountPath: "/tmp" }]);
        assert.equal(user?.env?.find((e) => e.name === "PORT")?.value, "9000");
        assert.equal(user?.env?.find((e) => e.name === "SCF_FUNCTIONNAME")?.value, "hello");
      },
    },
    {
      why: "the shim gets what it announces itself with: the activator's URL and its pod from the downward API; a user's image gets none of it",
      spec: { runtime: "custom", handler: undefined, code: { image: "example.com/me/fn:1" } },
      check: (d) => {
        const [shim, user] = d.spec!.template.spec!.containers;
        const env = new Map((shim?.env ?? []).map((e) => [e.name, e]));
        assert.match(env.get("UPDRAFT_ANNOUNCE_URL")?.value ?? "", /^http:\/\/.+\/internal\/instances$/);
        assert.equal(env.get("UPDRAFT_POD_UID")?.valueFrom?.fieldRef?.fieldPath, "metadata.uid");
        assert.equal(env.get("UPDRAFT_POD_IP")?.valueFrom?.fieldRef?.fieldPath, "status.podIP");
        assert.equal(env.get("UPDRAFT_POD_NAME")?.valueFrom?.fieldRef?.fieldPath, "metadata.name");
        assert.equal(env.get("UPDRAFT_POD_NAMESPACE")?.valueFrom?.fieldRef?.fieldPath, "metadata.namespace");
        assert.ok(!(user?.env ?? []).some((e) => e.name.startsWith("UPDRAFT_POD_")));
      },
    },
    {
      why: "memoryMB plus the shim's 128 MB is the container's memory request and limit",
      spec: { memoryMB: 512 },
      check: (d) => {
        const r = d.spec?.template.spec?.containers[0]?.resources;
        assert.equal(r?.limits?.memory, "640Mi");
        assert.equal(r?.requests?.memory, "640Mi");
        const env = d.spec?.template.spec?.containers[0]?.env ?? [];
        assert.equal(
          env.find((e) => e.name === "SCF_MEMORY_SIZE")?.value,
          "512",
          "the function still sees 512",
        );
      },
    },
    {
      why: "pods are non-root with a read-only root and no service-account token",
      spec: {},
      check: (d) => {
        const pod = d.spec?.template.spec;
        assert.equal(pod?.securityContext?.runAsNonRoot, true);
        assert.equal(pod?.containers[0]?.securityContext?.readOnlyRootFilesystem, true);
        assert.equal(pod?.automountServiceAccountToken, false);
      },
    },
    {
      why: "/tmp is an emptyDir of 512 Mi",
      spec: {},
      check: (d) => {
        const tmp = d.spec?.template.spec?.volumes?.find((v) => v.name === "tmp");
        assert.equal(tmp?.emptyDir?.sizeLimit, "512Mi");
        assert.ok(d.spec?.template.spec?.containers[0]?.volumeMounts?.some((m) => m.mountPath === "/tmp"));
      },
    },
    {
      why: "inline code is mounted read-only from its content-hashed ConfigMap at /var/user",
      spec: {},
      check: (d) => {
        const code = d.spec?.template.spec?.volumes?.find((v) => v.name === "code");
        assert.match(code?.configMap?.name ?? "", /^fn-hello-code-[0-9a-f]{10}$/);
      },
    },
    {
      why: "url code gets a writable emptyDir the shim pulls the package into",
      spec: { code: { url: "https://example.com/c.zip", sha256: "a".repeat(64) } },
      check: (d) => {
        const code = d.spec?.template.spec?.volumes?.find((v) => v.name === "code");
        assert.ok(code?.emptyDir);
        const env = d.spec?.template.spec?.containers[0]?.env ?? [];
        assert.equal(env.find((e) => e.name === "UPDRAFT_CODE_URL")?.value, "https://example.com/c.zip");
      },
    },
    {
      why: "the SCF environment comes first and the user's env after it (only reserved UPDRAFT_ names follow)",
      spec: { env: [{ name: "GREETING", value: "hi" }] },
      check: (d) => {
        const env = d.spec?.template.spec?.containers[0]?.env ?? [];
        assert.equal(env.find((e) => e.name === "SCF_FUNCTIONNAME")?.value, "hello");
        assert.equal(env.find((e) => e.name === "_HANDLER")?.value, "index.main_handler");
        const user = env.findIndex((e) => e.name === "GREETING");
        assert.ok(
          env.every((e, i) => i <= user || e.name.startsWith("UPDRAFT_")),
          "nothing but reserved names after the user's",
        );
        assert.ok(user > env.findIndex((e) => e.name === "SCF_FUNCTIONNAME"));
      },
    },
    {
      why: "spec.tencentCloud gives SCF's account variables as values and the role's keys by reference to its Secret, never as values",
      spec: {
        tencentCloud: {
          region: "ap-guangzhou",
          appId: "1250000000",
          uin: "100001",
          credentialsSecret: "cos",
        },
      },
      check: (d) => {
        const env = new Map((d.spec?.template.spec?.containers[0]?.env ?? []).map((e) => [e.name, e]));
        assert.equal(env.get("TENCENTCLOUD_REGION")?.value, "ap-guangzhou");
        assert.equal(env.get("TENCENTCLOUD_APPID")?.value, "1250000000");
        assert.equal(env.get("TENCENTCLOUD_UIN")?.value, "100001");
        for (const [name, key, optional] of [
          ["TENCENTCLOUD_SECRETID", "secretId", undefined],
          ["TENCENTCLOUD_SECRETKEY", "secretKey", undefined],
          ["TENCENTCLOUD_SESSIONTOKEN", "sessionToken", true],
        ] as const) {
          assert.equal(env.get(name)?.value, undefined, `${name} is no literal`);
          const ref = { name: "cos", key, ...(optional ? { optional } : {}) };
          assert.deepEqual(env.get(name)?.valueFrom, { secretKeyRef: ref });
        }
      },
    },
    {
      why: "without spec.tencentCloud no TENCENTCLOUD_ variable but SCF's RUNENV is set (the runtimes read the rest as empty)",
      spec: {},
      check: (d) => {
        const names = (d.spec?.template.spec?.containers[0]?.env ?? []).map((e) => e.name);
        assert.deepEqual(
          names.filter((n) => n.startsWith("TENCENTCLOUD_")),
          ["TENCENTCLOUD_RUNENV"],
        );
      },
    },
    {
      why: "USER is qcloud, as SCF runs functions (SCF apps test it to know where they run); a USER in spec.env is the function's own",
      spec: {},
      check: (d) => {
        const env = d.spec?.template.spec?.containers[0]?.env ?? [];
        assert.deepEqual(
          env.filter((e) => e.name === "USER"),
          [{ name: "USER", value: "qcloud" }],
        );
        const own = makeDeployment(fn({ env: [{ name: "USER", value: "me" }] }), cfg, "sha");
        assert.deepEqual(
          (own.spec?.template.spec?.containers[0]?.env ?? []).filter((e) => e.name === "USER"),
          [{ name: "USER", value: "me" }],
        );
      },
    },
    {
      why: "an image function's own container reads the account and role variables as on SCF",
      spec: {
        runtime: "custom",
        handler: undefined,
        code: { image: "example.com/me/fn:1" },
        tencentCloud: { region: "ap-shanghai", credentialsSecret: "cos" },
      },
      check: (d) => {
        const user = d.spec!.template.spec!.containers[1];
        const env = new Map((user?.env ?? []).map((e) => [e.name, e]));
        assert.equal(env.get("TENCENTCLOUD_REGION")?.value, "ap-shanghai");
        assert.equal(env.get("TENCENTCLOUD_SECRETKEY")?.valueFrom?.secretKeyRef?.name, "cos");
      },
    },
    {
      why: "in-flight work gets its whole timeout on scale-down",
      spec: { timeoutSeconds: 60 },
      check: (d) => assert.equal(d.spec?.template.spec?.terminationGracePeriodSeconds, 65),
    },
  ];
  for (const c of cases) it(c.why, () => c.check(makeDeployment(fn(c.spec), cfg, "sha")));
});

describe("spec hash", () => {
  it("is stable for the same Function", () => {
    assert.equal(
      deploymentSpecHash(makeDeployment(fn(), cfg, "s")),
      deploymentSpecHash(makeDeployment(fn(), cfg, "s")),
    );
  });
  it("ignores replicas, which the autoscaler owns", () => {
    const a = makeDeployment(fn(), cfg, "s");
    const b = makeDeployment(fn({ scaling: { minInstances: 5 } }), cfg, "s");
    assert.notEqual(a.spec?.replicas, b.spec?.replicas);
    assert.equal(deploymentSpecHash(a), deploymentSpecHash(b));
  });
  it("changes when the code changes, so the Deployment rolls", () => {
    const a = makeDeployment(fn(), cfg, "s");
    const b = makeDeployment(fn({ code: { inline: { "index.js": "y" } } }), cfg, "s");
    assert.notEqual(deploymentSpecHash(a), deploymentSpecHash(b));
  });
  it("changes when memory changes", () => {
    assert.notEqual(
      deploymentSpecHash(makeDeployment(fn(), cfg, "s")),
      deploymentSpecHash(makeDeployment(fn({ memoryMB: 256 }), cfg, "s")),
    );
  });
});

describe("code ConfigMap", () => {
  it("is named by content, so different code gets a different ConfigMap", () => {
    const a = codeConfigMapName(fn());
    const b = codeConfigMapName(fn({ code: { inline: { "index.js": "y" } } }));
    assert.notEqual(a, b);
    assert.equal(codeConfigMapName(fn()), a);
  });
  it("is immutable and owned by the Function", () => {
    const cm = makeCodeConfigMap(fn())!;
    assert.equal(cm.immutable, true);
    assert.equal(cm.metadata?.ownerReferences?.[0]?.uid, "uid-1");
    assert.deepEqual(cm.data, { "index.js": "x" });
  });
  it("is not made for other code sources", () => {
    assert.equal(makeCodeConfigMap(fn({ code: { configMapRef: { name: "mine" } } })), undefined);
    assert.equal(codeConfigMapName(fn({ code: { configMapRef: { name: "mine" } } })), "mine");
  });
});

describe("code package in a ConfigMap (configMapRef.key)", () => {
  const packaged = fn({
    runtime: "go1",
    handler: "main",
    code: { configMapRef: { name: "pkgs", key: "hello.zip" } },
  });
  const pod = makeDeployment(packaged, cfg, "sha").spec!.template.spec!;
  const container = pod.containers[0]!;
  it("mounts only that key, read-only, beside a writable /var/user that the shim unpacks into", () => {
    assert.deepEqual(pod.volumes?.find((v) => v.name === "package")?.configMap, {
      name: "pkgs",
      items: [{ key: "hello.zip", path: "package" }],
    });
    assert.deepEqual(pod.volumes?.find((v) => v.name === "code")?.emptyDir, { sizeLimit: "512Mi" });
    assert.deepEqual(
      container.volumeMounts?.map((m) => [m.name, m.mountPath, m.readOnly]),
      [
        ["tmp", "/tmp", undefined],
        ["code", "/var/user", false],
        ["package", "/var/package", true],
      ],
    );
    assert.equal(
      container.env?.find((e) => e.name === "UPDRAFT_CODE_PACKAGE")?.value,
      "/var/package/package",
    );
  });
  it("files without a key are mounted at /var/user as they are", () => {
    const files = makeDeployment(fn({ code: { configMapRef: { name: "pkgs" } } }), cfg, "sha").spec!.template
      .spec!;
    assert.deepEqual(files.volumes?.find((v) => v.name === "code")?.configMap, {
      name: "pkgs",
      defaultMode: 0o555,
    });
    assert.equal(
      files.volumes?.find((v) => v.name === "package"),
      undefined,
    );
  });
  it("the code hash follows the package bytes, and binaryData changes roll file ConfigMaps too", () => {
    const zipA = { binaryData: { "hello.zip": Buffer.from("PK-a").toString("base64") } };
    const zipB = { binaryData: { "hello.zip": Buffer.from("PK-b").toString("base64") } };
    assert.notEqual(codeSha256(packaged, zipA), codeSha256(packaged, zipB));
    const files = fn({ code: { configMapRef: { name: "pkgs" } } });
    assert.notEqual(
      codeSha256(files, { data: { a: "1" }, ...zipA }),
      codeSha256(files, { data: { a: "1" }, ...zipB }),
    );
  });
});

describe("service and url", () => {
  it("selects the function's pods on port 80 → 8080", () => {
    const s = makeService(fn());
    assert.equal(s.metadata?.name, childName("hello"));
    assert.deepEqual(s.spec?.selector, { "updraft.dev/function": "hello" });
    assert.equal(s.spec?.ports?.[0]?.targetPort, 8080);
  });
  it("the url is the activator's invoke path, without a doubled slash", () => {
    assert.equal(
      functionUrl(fn(), cfg),
      "http://activator:8080/v1/namespaces/ns1/functions/hello/invocations",
    );
  });
});

describe("httpTriggerUrl", () => {
  const cases = [
    {
      why: "by default under the activator's URL, its trailing slash not doubled",
      cfg: { activatorUrl: "http://activator:8080/" },
      want: "http://activator:8080/http/shop/cart",
    },
    {
      why: "with a namespace domain, the namespace's own host (its own origin)",
      cfg: {
        activatorUrl: "http://activator:8080/",
        namespaceDomain: "fn.example.com",
        namespaceScheme: "https",
      },
      want: "https://shop.fn.example.com/cart",
    },
    {
      why: "the scheme defaults to http",
      cfg: { activatorUrl: "http://a", namespaceDomain: "fn.example.com" },
      want: "http://shop.fn.example.com/cart",
    },
  ];
  for (const c of cases) it(c.why, () => assert.equal(httpTriggerUrl("shop", "/cart", c.cfg), c.want));
});

describe("every container of a function pod says why it stopped", () => {
  const pods: Array<{
    why: string;
    containers: () => Array<{
      name: string;
      terminationMessagePath?: string;
      terminationMessagePolicy?: string;
    }>;
  }> = [
    {
      why: "a runtime function's one container (the shim's reason for exiting: a package it cannot fetch)",
      containers: () => makeDeployment(fn(), cfg, "sha").spec!.template.spec!.containers,
    },
    {
      why: "an image function's shim and the user's own container",
      containers: () =>
        makeDeployment(fn({ code: { image: "example.com/me/fn:1" } }), cfg, "sha").spec!.template.spec!
          .containers,
    },
    {
      why: "a warm pool's instance, which exits if its specialisation fails",
      containers: () =>
        makePoolDeployment("team-a", "python3.11", 1, 128, cfg).spec!.template.spec!.containers,
    },
  ];
  for (const p of pods)
    it(p.why, () => {
      const containers = p.containers();
      assert.ok(containers.length > 0);
      for (const c of containers)
        assert.deepEqual(
          [c.name, c.terminationMessagePath, c.terminationMessagePolicy],
          [c.name, "/dev/termination-log", "FallbackToLogsOnError"],
        );
    });
});

describe("makePoolDeployment", () => {
  const d = makePoolDeployment("team-a", "python3.11", 3, 128, {
    runtimeImage: (r) => `reg/runtime-${r}:t`,
    activatorUrl: "http://a",
  });
  const pod = d.spec!.template.spec!;
  const c = pod.containers[0]!;
  it("is a function pod of that runtime and memory: same image, resources, user, read-only root and /tmp", () => {
    assert.equal(c.image, "reg/runtime-python3.11:t");
    assert.deepEqual(c.resources, { requests: { memory: "256Mi", cpu: "63m" }, limits: { memory: "256Mi" } });
    assert.equal(pod.securityContext!.runAsNonRoot, true);
    assert.equal(c.securityContext!.readOnlyRootFilesystem, true);
    assert.equal(pod.automountServiceAccountToken, false);
    assert.deepEqual(pod.volumes![0], { name: "tmp", emptyDir: { sizeLimit: "512Mi" } });
  });
  it("waits to be specialised, with a writable code folder", () => {
    assert.ok(c.env!.some((e) => e.name === "UPDRAFT_POOL" && e.value === "true"));
    assert.ok(!c.env!.some((e) => e.name === "_HANDLER"), "no function of its own");
    // A pool pod is served once specialised (the activator has its address): it never announces.
    assert.ok(!c.env!.some((e) => e.name === "UPDRAFT_ANNOUNCE_URL"));
    assert.deepEqual(pod.volumes![1], { name: "code", emptyDir: { sizeLimit: "512Mi" } });
  });
  it("is selected by its pool label only, which a specialised pod loses", () => {
    assert.equal(d.metadata!.name, "updraft-pool-python3-11");
    assert.deepEqual(d.spec!.selector.matchLabels, { "updraft.dev/pool": "python3.11" });
    assert.equal(d.spec!.template.metadata!.labels!["updraft.dev/pool-memory"], "128");
    assert.equal(d.spec!.replicas, 3);
  });
});
