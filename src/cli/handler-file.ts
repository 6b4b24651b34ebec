/**
 * Where a runtime looks for the code a handler names, so deploy can say before it applies
 * anything that every call would be 437 HandlerNotFound.
 */
import type { Runtime } from "../api/v1alpha1.ts";

/**
 * The files, relative to the code's root, of which one must be there for the runtime to load
 * the handler; undefined for runtimes that do not load a file by the handler's name (Go's
 * binary, Java's class in a jar, a custom bootstrap) or a Web function. They follow each
 * runtime's loader (runtimes/): Python imports module.py (a.b → a/b.py), PHP includes
 * file.php, Node.js require()s the path, which tries the path itself, .js, .json, .node and
 * a folder's package.json or index. The first is the one to name when none is there.
 * Example: python3.11 "index.main_handler" → ["index.py"]; php8.2 "apigw.main_handler" →
 * ["apigw.php"]; nodejs24 "src/app.handler" → ["src/app.js", "src/app", …].
 */
export function handlerFiles(runtime: Runtime, handler: string, web = false): string[] | undefined {
  if (web) return undefined;
  const dot = handler.lastIndexOf(".");
  const module = dot < 0 ? handler : handler.slice(0, dot);
  if (runtime.startsWith("python")) return [`${module.replaceAll(".", "/")}.py`];
  if (runtime.startsWith("php")) return [`${module}.php`];
  if (runtime.startsWith("nodejs"))
    return [
      `${module}.js`, // first: the one to name when none is there
      module,
      ...[".json", ".node"].map((ext) => module + ext),
      ...["package.json", "index.js", "index.json", "index.node"].map((f) => `${module}/${f}`),
    ];
  return undefined;
}
