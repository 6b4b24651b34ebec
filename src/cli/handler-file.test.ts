import assert from "node:assert/strict";
import { describe, it } from "node:test";
import type { Runtime } from "../api/v1alpha1.ts";
import { handlerFiles } from "./handler-file.ts";

describe("handlerFiles: where each runtime's loader looks for a handler's code", () => {
  const table: Array<{
    why: string;
    runtime: Runtime;
    handler: string;
    web?: boolean;
    want: string[] | undefined;
  }> = [
    {
      why: "Python imports module.py",
      runtime: "python3.11",
      handler: "index.main_handler",
      want: ["index.py"],
    },
    {
      why: "a dotted Python module is a path (a.b → a/b.py), as the bootstrap reads it",
      runtime: "python3.11",
      handler: "pkg.app.main_handler",
      want: ["pkg/app.py"],
    },
    { why: "PHP includes file.php", runtime: "php8.2", handler: "apigw.main_handler", want: ["apigw.php"] },
    {
      why: "Node.js require() tries the path, its extensions and a folder's package.json or index",
      runtime: "nodejs24",
      handler: "src/app.handler",
      want: [
        "src/app.js",
        "src/app",
        "src/app.json",
        "src/app.node",
        "src/app/package.json",
        "src/app/index.js",
        "src/app/index.json",
        "src/app/index.node",
      ],
    },
    {
      why: "an .mjs named in full is the path itself",
      runtime: "nodejs22",
      handler: "index.mjs.main_handler",
      want: [
        "index.mjs.js",
        "index.mjs",
        "index.mjs.json",
        "index.mjs.node",
        "index.mjs/package.json",
        "index.mjs/index.js",
        "index.mjs/index.json",
        "index.mjs/index.node",
      ],
    },
    {
      why: "Go's handler is a binary's name, not checked here",
      runtime: "go1",
      handler: "main",
      want: undefined,
    },
    {
      why: "Java's is a class in a jar",
      runtime: "java17",
      handler: "example.Hello::mainHandler",
      want: undefined,
    },
    {
      why: "a custom bootstrap reads $_HANDLER as it likes",
      runtime: "custom",
      handler: "index.x",
      want: undefined,
    },
    {
      why: "a Web function has no handler to load",
      runtime: "python3.11",
      handler: "index.main_handler",
      web: true,
      want: undefined,
    },
  ];
  for (const c of table) it(c.why, () => assert.deepEqual(handlerFiles(c.runtime, c.handler, c.web), c.want));
});
