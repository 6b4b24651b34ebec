#!/usr/bin/env node
import { deploy } from "../../cli/deploy.ts";
/**
 * updraft CLI: wiring only — the command, its help, its exit code. The commands live in
 * src/cli/ (init.ts, deploy.ts, invoke.ts, logs.ts, functions.ts), their help in src/cli/usage.ts.
 */
import { describe, list, remove } from "../../cli/functions.ts";
import { init } from "../../cli/init.ts";
import { invocation, invoke } from "../../cli/invoke.ts";
import { logs } from "../../cli/logs.ts";
import { type Command, OVERVIEW, USAGE } from "../../cli/usage.ts";
import { useUndiciFromNpm } from "../../lib/http-client.ts";

const COMMANDS: Record<Command, (args: string[]) => Promise<number>> = {
  init,
  deploy,
  invoke,
  invocation,
  logs,
  list,
  describe,
  delete: remove,
};

const isCommand = (s: string | undefined): s is Command => s !== undefined && Object.hasOwn(COMMANDS, s);

async function main(): Promise<number> {
  useUndiciFromNpm();
  const [cmd, ...rest] = process.argv.slice(2);
  if (cmd === undefined || cmd === "help" || cmd === "--help" || cmd === "-h") {
    const topic = rest[0];
    console.log(isCommand(topic) ? USAGE[topic] : OVERVIEW);
    return 0;
  }
  if (!isCommand(cmd)) {
    console.error(`updraft: unknown command "${cmd}"\n\n${OVERVIEW}`);
    return 2;
  }
  if (rest.includes("--help") || rest.includes("-h")) {
    console.log(USAGE[cmd]);
    return 0;
  }
  return COMMANDS[cmd](rest);
}

// A reader that stopped reading (`updraft logs f | head`, `| grep -m1`) closes the pipe:
// the output is done, as for any Unix tool, not a crash.
process.stdout.on("error", (err: NodeJS.ErrnoException) => {
  if (err.code === "EPIPE") process.exit(0);
  throw err;
});

main().then(
  (code) => process.exit(code),
  (err: unknown) => {
    // parseArgs' errors name the flag: an unknown one, or one missing its value.
    const message = err instanceof Error ? err.message : String(err);
    console.error(`updraft: ${message}`);
    process.exit((err as { code?: string }).code?.startsWith("ERR_PARSE_ARGS") ? 2 : 1);
  },
);
