import http from "node:http";
import net from "node:net";

// node bench/hop-floor.ts <http|tcp> <target host:port> [listen address, 127.0.0.1:0 unless given]
// (prints "listening <port>")
//
// The least a user-space hop written for Node.js can do, run as a process of its own on the
// host so the bench can measure it beside the activator (bench/activator-clients.ts --floor):
//   tcp  — a byte pipe per client connection (no HTTP parsing at all: what an L4 proxy does);
//   http — node:http's server and a keep-alive node:http client, each request forwarded as
//          it came and its answer piped back (what any HTTP-aware hop does before routing,
//          authorisation, admission or records).
// It is a measuring stick, not a product: no limits, no time-outs, no retries.
// On the host, beside the bench's client, it skips the pod network hop and kube-proxy's
// rules that the activator's path has (a floor that favours the floor); the bench also runs
// it in a pod behind a Service, as the activator is.
const [mode, target, listenOn = "127.0.0.1:0"] = process.argv.slice(2);
const [listenHost, listenPort] = listenOn.split(":");
const [host, portText] = (target ?? "").split(":");
const port = Number(portText);
if ((mode !== "http" && mode !== "tcp") || !host || !port) {
  console.error("usage: node bench/hop-floor.ts <http|tcp> <host:port>");
  process.exit(2);
}

const server =
  mode === "tcp"
    ? net.createServer((client) => {
        client.setNoDelay(true);
        const upstream = net.connect({ host, port, noDelay: true });
        client.pipe(upstream).pipe(client);
        const close = () => {
          client.destroy();
          upstream.destroy();
        };
        client.on("error", close).on("close", close);
        upstream.on("error", close).on("close", close);
      })
    : (() => {
        const agent = new http.Agent({ keepAlive: true, maxSockets: 256 });
        return http.createServer((req, res) => {
          const forward = http.request(
            { host, port, path: req.url, method: req.method, headers: req.headers, agent },
            (answer) => {
              res.writeHead(answer.statusCode ?? 502, answer.headers);
              answer.pipe(res);
            },
          );
          forward.on("error", () => {
            res.writeHead(502).end();
          });
          req.pipe(forward);
        });
      })();
server.listen(Number(listenPort), listenHost, () =>
  console.log(`listening ${(server.address() as net.AddressInfo).port}`),
);
process.on("SIGTERM", () => process.exit(0));
