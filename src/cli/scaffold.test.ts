import assert from "node:assert/strict";
import { describe, it } from "node:test";
import yaml from "js-yaml";
import { RUNTIMES, type Runtime } from "../api/v1alpha1.ts";
import { FUNCTION_NAME, scaffold } from "./scaffold.ts";

interface Manifest {
  kind: string;
  metadata: { name: string };
  spec: {
    runtime: string;
    handler?: string;
    code: {
      inline?: Record<string, string>;
      configMapRef?: { name: string; key: string };
      url?: string;
      sha256?: string;
    };
  };
}

// Each runtime: the file its handler names, and where the manifest has the code from.
type Code = "inline" | "configMap" | "url";
const cases: Array<{ runtime: Runtime; handlerFile: string; handler?: string; code: Code; why: string }> = [
  {
    runtime: "nodejs24",
    handlerFile: "index.js",
    handler: "index.main_handler",
    code: "inline",
    why: "SCF's Node.js form",
  },
  {
    runtime: "nodejs22",
    handlerFile: "index.js",
    handler: "index.main_handler",
    code: "inline",
    why: "the older Node.js",
  },
  {
    runtime: "python3.11",
    handlerFile: "index.py",
    handler: "index.main_handler",
    code: "inline",
    why: "SCF's Python form",
  },
  {
    runtime: "php8.2",
    handlerFile: "index.php",
    handler: "index.main_handler",
    code: "inline",
    why: "SCF's PHP form",
  },
  {
    runtime: "custom",
    handlerFile: "bootstrap",
    code: "inline",
    why: "a custom runtime has no handler, only its bootstrap",
  },
  {
    runtime: "go1",
    handlerFile: "main.go",
    handler: "main",
    code: "url",
    why: "a binary: built, zipped (over 1 MiB), served at a URL",
  },
  {
    runtime: "java17",
    handlerFile: "src/main/java/example/Handler.java",
    handler: "example.Handler::mainHandler",
    code: "configMap",
    why: "a jar: built with Maven",
  },
  {
    runtime: "java21",
    handlerFile: "src/main/java/example/Handler.java",
    handler: "example.Handler::mainHandler",
    code: "configMap",
    why: "the same for Java 21",
  },
];

describe("scaffold", () => {
  it("covers every runtime the CRD accepts", () => {
    assert.deepEqual(cases.map((c) => c.runtime).sort(), [...RUNTIMES].sort());
  });
  for (const c of cases) {
    it(`${c.runtime}: ${c.why}`, () => {
      const { files, next } = scaffold(c.runtime, "hello-fn");
      assert.ok(files.has(c.handlerFile), `writes ${c.handlerFile}`);
      const m = yaml.load(files.get("function.yaml") ?? "") as Manifest;
      assert.equal(m.kind, "Function");
      assert.equal(m.metadata.name, "hello-fn");
      assert.equal(m.spec.runtime, c.runtime);
      assert.equal(m.spec.handler, c.handler);
      if (c.code === "inline") {
        // The manifest's copy is byte for byte the file written beside it.
        assert.equal(m.spec.code.inline?.[c.handlerFile], files.get(c.handlerFile));
      } else if (c.code === "configMap") {
        assert.equal(m.spec.code.configMapRef?.name, "hello-fn-code");
        const key = m.spec.code.configMapRef?.key ?? "";
        assert.ok(
          next.some((l) => l.includes("kubectl create configmap hello-fn-code") && l.includes(key)),
          `the steps make the ConfigMap with key ${key}: ${next.join(" / ")}`,
        );
      } else {
        // Left to fill in, in a form the CRD refuses until it is.
        assert.match(m.spec.code.url ?? "", /^REPLACE/);
        assert.match(m.spec.code.sha256 ?? "", /^REPLACE/);
        assert.ok(next.some((l) => l.includes("sha256sum main.zip")));
      }
      if (c.code !== "inline")
        assert.ok(files.get("README.md")?.includes(next[0] ?? "?"), "the README has the build step");
      assert.ok(next.some((l) => l.startsWith("updraft invoke hello-fn")));
    });
  }
  it("names: what a Function's name may be", () => {
    const table: Array<[string, boolean, string]> = [
      ["hello", true, "plain"],
      ["hello-2", true, "digits and dashes inside"],
      ["Hello", false, "upper case"],
      ["2hello", false, "starts with a digit (it names a Service)"],
      ["hello-", false, "ends with a dash"],
      ["a".repeat(64), false, "longer than a label"],
    ];
    for (const [name, ok, why] of table) assert.equal(FUNCTION_NAME.test(name), ok, why);
  });
});
