/**
 * What `updraft init <runtime> <name>` writes: a function in SCF's shape for the runtime
 * (`index.main_handler(event, context)`, or the runtime's own form), a `function.yaml`
 * that `kubectl apply -f` takes as it is, and how to build and call it. Pure: the files
 * as paths and texts, for the command to write.
 *
 * Interpreted runtimes (Node.js, Python, PHP, custom) carry their code inline in the
 * manifest, so applying it is the whole deployment. Go and Java need a build, and the
 * README says how: Java's jar (a few KB) goes in a ConfigMap the manifest names; Go's
 * binary (over 2 MB zipped, more than a ConfigMap holds) is downloaded from a URL with its
 * SHA-256, which the manifest leaves to fill in.
 */
import { RUNTIMES, type Runtime } from "../api/v1alpha1.ts";

export interface Scaffold {
  /** Relative path → text. */
  files: Map<string, string>;
  /** What to run next, for the command to print. */
  next: string[];
}

/** Lower-case RFC 1123 label, as a Function's name is (it names a Deployment and Service). */
export const FUNCTION_NAME = /^[a-z]([-a-z0-9]{0,61}[a-z0-9])?$/;

export const isRuntime = (s: string): s is Runtime => (RUNTIMES as readonly string[]).includes(s);

const NODE = `'use strict';
// An SCF handler: the event (parsed JSON) and the context (request_id, function_name,
// namespace, memory_limit_in_mb, time_limit_in_ms, ...). What it returns is the answer;
// what it throws is a function error (SCF's 430). console.log lines are the invocation's log.
exports.main_handler = async (event, context) => {
  console.log('request', context.request_id);
  return { message: \`Hello, \${event.name || 'world'}!\`, requestId: context.request_id };
};
`;

const PYTHON = `# An SCF handler: the event (parsed JSON) and the context (request_id, function_name,
# namespace, memory_limit_in_mb, time_limit_in_ms, ...). What it returns is the answer;
# what it raises is a function error (SCF's 430). print() lines are the invocation's log.
def main_handler(event, context):
    print("request", context["request_id"])
    return {"message": "Hello, %s!" % event.get("name", "world"), "requestId": context["request_id"]}
`;

const PHP = `<?php
// An SCF handler: the event (parsed JSON, as objects) and the context. What it returns is
// the answer; what it throws is a function error (SCF's 430). echo lines are the log.
function main_handler($event, $context)
{
    echo "request " . $context->request_id . "\\n";
    return ["message" => "Hello, " . ($event->name ?? "world") . "!", "requestId" => $context->request_id];
}
`;

const CUSTOM = `#!/bin/bash
# A custom runtime: this bootstrap speaks SCF's runtime API itself — it says it is ready,
# then takes invocations one by one and posts each answer (or error) back.
set -euo pipefail
api="http://$SCF_RUNTIME_API:$SCF_RUNTIME_API_PORT"
curl -s -X POST "$api/runtime/init/ready" -d '' >/dev/null
while true; do
  headers=$(mktemp)
  event=$(curl -s -D "$headers" "$api/runtime/invocation/next")
  request_id=$(sed -n 's/^request_id: *\\([^\\r]*\\).*/\\1/p' "$headers")
  rm -f "$headers"
  echo "request $request_id"
  curl -s -X POST "$api/runtime/invocation/response" \\
    -d "{\\"message\\": \\"Hello from bash!\\", \\"requestId\\": \\"$request_id\\", \\"event\\": $event}" >/dev/null
done
`;

const GO_MAIN = `// An SCF Go function: a binary built with scf-go-lib, whose cloudfunction.Start serves the
// handler. The handler takes a context (functioncontext.FromContext gives the request id)
// and the event decoded into its type; its error is a function error (SCF's 430).
package main

import (
	"context"
	"fmt"

	"github.com/tencentyun/scf-go-lib/cloudfunction"
	"github.com/tencentyun/scf-go-lib/functioncontext"
)

type Event struct {
	Name string \`json:"name"\`
}

type Answer struct {
	Message   string \`json:"message"\`
	RequestID string \`json:"requestId"\`
}

func hello(ctx context.Context, event Event) (Answer, error) {
	fc, _ := functioncontext.FromContext(ctx)
	fmt.Println("request", fc.RequestID)
	name := event.Name
	if name == "" {
		name = "world"
	}
	return Answer{Message: fmt.Sprintf("Hello, %s!", name), RequestID: fc.RequestID}, nil
}

func main() {
	cloudfunction.Start(hello)
}
`;

// No require line: \`go mod tidy\` adds scf-go-lib at its latest version.
const goMod = (name: string) => `module example.com/${name}

go 1.21
`;

const javaHandler = (pkg: string) => `package ${pkg};

import com.qcloud.scf.runtime.Context;
import java.util.LinkedHashMap;
import java.util.Map;

/**
 * An SCF Java handler (${pkg}.Handler::mainHandler): the event as a Map (or any type Jackson
 * can bind) and the Context. What it returns is the answer; what it throws is a function
 * error (SCF's 430). System.out lines are the invocation's log.
 */
public class Handler {
  public Map<String, Object> mainHandler(Map<String, Object> event, Context context) {
    System.out.println("request " + context.getRequestId());
    Object name = event.getOrDefault("name", "world");
    Map<String, Object> answer = new LinkedHashMap<>();
    answer.put("message", "Hello, " + name + "!");
    answer.put("requestId", context.getRequestId());
    return answer;
  }
}
`;

const pom = (name: string, release: number) => `<?xml version="1.0" encoding="UTF-8"?>
<project xmlns="http://maven.apache.org/POM/4.0.0"
         xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"
         xsi:schemaLocation="http://maven.apache.org/POM/4.0.0 https://maven.apache.org/xsd/maven-4.0.0.xsd">
  <modelVersion>4.0.0</modelVersion>
  <groupId>example</groupId>
  <artifactId>${name}</artifactId>
  <version>1.0</version>
  <packaging>jar</packaging>
  <properties>
    <maven.compiler.release>${release}</maven.compiler.release>
    <project.build.sourceEncoding>UTF-8</project.build.sourceEncoding>
  </properties>
  <dependencies>
    <!-- com.qcloud.scf.runtime.Context: the runtime provides it, so it stays out of the jar. -->
    <dependency>
      <groupId>com.tencentcloudapi</groupId>
      <artifactId>scf-java-events</artifactId>
      <version>0.0.4</version>
      <scope>provided</scope>
    </dependency>
  </dependencies>
  <build>
    <finalName>${name}</finalName>
    <plugins>
      <!-- Maven's default compiler plugin predates maven.compiler.release. -->
      <plugin>
        <groupId>org.apache.maven.plugins</groupId>
        <artifactId>maven-compiler-plugin</artifactId>
        <version>3.13.0</version>
      </plugin>
    </plugins>
  </build>
</project>
`;

/** The Function manifest: inline code, or a ConfigMap that holds the built package. */
function manifest(name: string, runtime: Runtime, handler: string | undefined, code: string): string {
  return `apiVersion: updraft.dev/v1alpha1
kind: Function
metadata:
  name: ${name}
spec:
  runtime: ${runtime}
${handler ? `  handler: ${handler}\n` : ""}  memoryMB: 128
  timeoutSeconds: 3
  # Instances start on the first call and stop after a minute without one.
  scaling: {scaleToZeroAfterSeconds: 60}
  code:
${code}`;
}

/** Each file as a block of inline code, indented under code.inline. */
const inline = (files: Record<string, string>) =>
  `    inline:\n${Object.entries(files)
    .map(
      ([path, text]) =>
        `      ${path}: |\n${text
          .split("\n")
          .map((l) => (l ? `        ${l}` : ""))
          .join("\n")
          .trimEnd()}\n`,
    )
    .join("")}`;

const configMapCode = (name: string, key: string) => `    configMapRef: {name: ${name}-code, key: ${key}}\n`;

const invokeLine = (name: string) => `updraft invoke ${name} --data '{"name":"you"}'`;

export function scaffold(runtime: Runtime, name: string): Scaffold {
  const files = new Map<string, string>();
  const applied = [`kubectl apply -f ${name}/function.yaml`, invokeLine(name)];
  switch (runtime) {
    case "nodejs24":
    case "nodejs22":
      files.set("index.js", NODE);
      files.set("function.yaml", manifest(name, runtime, "index.main_handler", inline({ "index.js": NODE })));
      return { files, next: applied };
    case "python3.11":
      files.set("index.py", PYTHON);
      files.set(
        "function.yaml",
        manifest(name, runtime, "index.main_handler", inline({ "index.py": PYTHON })),
      );
      return { files, next: applied };
    case "php8.2":
      files.set("index.php", PHP);
      files.set("function.yaml", manifest(name, runtime, "index.main_handler", inline({ "index.php": PHP })));
      return { files, next: applied };
    case "custom":
      files.set("bootstrap", CUSTOM);
      files.set("function.yaml", manifest(name, runtime, undefined, inline({ bootstrap: CUSTOM })));
      return { files, next: applied };
    case "go1": {
      // A Go binary zipped is over 2 MB, more than a ConfigMap holds: its package is
      // downloaded from a URL, checked against its SHA-256.
      const next = [
        `cd ${name} && go mod tidy && GOOS=linux GOARCH=amd64 CGO_ENABLED=0 go build -ldflags='-s -w' -o main . && zip -q main.zip main`,
        "# put main.zip where the cluster's pods can download it (a bucket, any HTTP(S) server), then:",
        `sed -i "s|url: .*|url: <its URL>|; s|sha256: .*|sha256: $(sha256sum main.zip | cut -c1-64)|" function.yaml`,
        "kubectl apply -f function.yaml",
        invokeLine(name),
      ];
      files.set("main.go", GO_MAIN);
      files.set("go.mod", goMod(name));
      // SCF's Go handler names the binary: "main".
      files.set(
        "function.yaml",
        manifest(
          name,
          runtime,
          "main",
          "    # main.zip, built and served as README.md says (the API server refuses these until then).\n    url: REPLACE-with-the-URL-of-main.zip\n    sha256: REPLACE-with-sha256sum-of-main.zip\n",
        ),
      );
      files.set("README.md", readme(name, runtime, next, "a URL"));
      return { files, next };
    }
    case "java17":
    case "java21": {
      const pkg = "example";
      const next = [
        `cd ${name} && mvn -q package`,
        `kubectl create configmap ${name}-code --from-file=code.jar=target/${name}.jar`,
        "kubectl apply -f function.yaml",
        invokeLine(name),
      ];
      files.set(`src/main/java/${pkg}/Handler.java`, javaHandler(pkg));
      files.set("pom.xml", pom(name, runtime === "java17" ? 17 : 21));
      files.set(
        "function.yaml",
        manifest(name, runtime, `${pkg}.Handler::mainHandler`, configMapCode(name, "code.jar")),
      );
      files.set("README.md", readme(name, runtime, next, "a ConfigMap"));
      return { files, next };
    }
  }
}

function readme(name: string, runtime: Runtime, next: string[], where: string): string {
  return `# ${name}

An Updraft function (\`${runtime}\`), written as for SCF.

The short way: \`updraft deploy ${name}\` builds it, packages it (inline, a ConfigMap up to
1 MB, else an upload to the code store of the cluster's Updraft, when its chart has
\`codeStore.enabled\`), applies the Function and waits until it is Ready. Then
\`updraft invoke ${name}\`.

By hand: build it, put the package where instances get it (${where}; a ConfigMap holds up
to 1 MiB, a larger package is served at an HTTP(S) URL as \`code.url\` with its
\`sha256\`), apply the Function and call it:

\`\`\`sh
${next.join("\n")}
\`\`\`
`;
}
