/** The CLI's help: one text per command, every flag in it; `updraft help` prints them all. */
const NAMESPACE = "  -n, --namespace NS   the namespace (default: the kubeconfig context's, else default)";

export const USAGE = {
  init: `updraft init <runtime> <name> [flags]
  Writes a function in SCF's shape and its Function manifest into a new directory: the
  handler and function.yaml — for Node.js, Python, PHP and custom the code is inline, and
  kubectl apply -f takes it as it is; for Go and Java the build files too, and a README with
  the build and packaging steps.
  Runtimes: nodejs24, nodejs22, python3.11, php8.2, go1, java17, java21, custom.
      --dir DIR        where to write (default ./<name>); existing files are never overwritten`,
  deploy: `updraft deploy [dir] [flags]
  Makes a directory (default .) a Function and applies it, then waits until it is Ready.
  The Function is dir/function.yaml (as updraft init writes it; Trigger documents in it are
  applied with it), else dir/serverless.yaml (SCF's, component: scf: name, handler, runtime,
  memorySize, timeout, environment; timer and apigw events become Triggers; the keys it
  does not apply are named), else one from the flags; the flags win.
  Go (go.mod) is built into main, Java (pom.xml) into its jar. The code goes inline in the
  manifest when it fits (≤ 32 plain-named text files, 1,000,000 bytes), else as a tar.gz
  (or the jar) in a ConfigMap the Function owns (≤ 1,000,000 bytes), else uploaded to the
  code store of the cluster's Updraft (the chart's codeStore.enabled; RBAC create packages)
  as code.url updraft:packages/<sha256>. Without a code store, serve it at a URL of your own
  (code.url and sha256 in function.yaml).
${NAMESPACE}
      --name NAME      the Function's name (default: the file's, else the directory's)
      --runtime R      its runtime (needed without either file, or for an SCF runtime
                       Updraft does not run, such as Nodejs12.16)
      --handler H      its handler (default index.main_handler, custom's _HANDLER too; main for go1)
      --credentials-secret S
                       a Secret with secretId, secretKey (and sessionToken): the function's
                       TENCENTCLOUD_SECRETID … as an SCF role's (spec.tencentCloud.credentialsSecret)
      --wait 120s      how long to wait for Ready
      --no-wait        apply and return`,
  invoke: `updraft invoke <function> [flags]
  Calls a function and prints its result; the request id, durations and any function error
  go to stderr.
${NAMESPACE}
  -d, --data JSON      the event (default {})
  -f, --file FILE      the event, from a file
      --log            print the invocation's log (its last 4 KB) too
      --async          queue the event instead; prints its request id`,
  invocation: `updraft invocation <request-id> [flags]
  Prints an async invocation's record: its status, attempts and result or error.
${NAMESPACE}`,
  logs: `updraft logs <function> [flags]
  Prints the log of the function's running instances (several: each line prefixed with its
  pod); with none running, the kept logs (each invocation's last 4 KB, kept a day by
  default). Every line of an invocation carries its request id.
${NAMESPACE}
      --request-id ID  only the lines of that invocation (from the kept logs when no
                       running instance has it)
      --kept           the kept logs, whether or not instances run
  -f, --follow         keep printing, from instances that start later too, until interrupted
      --since D        only lines newer than D (30s, 5m, 2h)
      --tail N         only the last N lines of each instance`,
  list: `updraft list [flags]
  Lists Functions: runtime, Ready, ready/all instances, age.
${NAMESPACE}
  -A, --all-namespaces every namespace`,
  describe: `updraft describe <function> [flags]
  Shows a Function: its settings, status, conditions and the Triggers that call it.
${NAMESPACE}`,
  delete: `updraft delete <function> [flags]
  Deletes a Function (its Deployment, Service and code go with it; its Triggers stay, not Ready).
${NAMESPACE}`,
} as const;

export type Command = keyof typeof USAGE;

export const OVERVIEW = `updraft — call and inspect Updraft functions

Commands:
  init <runtime> <name>    scaffold a function and its manifest
  deploy [dir]             a directory made a Function (and its Triggers), applied, waited for
  invoke <function>        call a function (sync, or --async)
  invocation <request-id>  an async invocation's record
  logs <function>          the log of its running instances (--request-id, -f)
  list                     the Functions of a namespace
  describe <function>      one Function, its conditions and Triggers
  delete <function>        delete a Function
  help [command]           this, or a command's flags

Where it calls: Functions through the kubeconfig's API server, as kubectl; the invoke API
through the API server too (any kubeconfig credential), or straight to the activator at
$UPDRAFT_URL with $UPDRAFT_TOKEN or the kubeconfig's token.

Run 'updraft <command> --help' for a command's flags.`;

/** A command's one required argument (a function's name, a request id); missing: its usage is printed. */
export function requiredArgument(positionals: string[], command: Command): string | undefined {
  if (positionals[0] === undefined) console.error(USAGE[command]);
  return positionals[0];
}
