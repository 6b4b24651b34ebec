// An SCF image function, unchanged by Updraft: one HTTP server on port 9000 that serves
// SCF's image contract both ways — POST /event-invoke (an Event function: the event is the
// body, the answer the result) and any other path (a Web function: the request as it came).
// It writes nothing but /tmp and runs as whatever non-root user the platform picks.
const http = require("node:http");
const fs = require("node:fs");

const port = Number(process.env.PORT || 9000);
const scf = (headers) =>
  Object.fromEntries(Object.entries(headers).filter(([k]) => k.startsWith("x-scf-")));

http
  .createServer((req, res) => {
    const chunks = [];
    req.on("data", (c) => chunks.push(c));
    req.on("end", async () => {
      const body = Buffer.concat(chunks).toString();
      if (req.method === "POST" && req.url === "/event-invoke") {
        const event = JSON.parse(body || "{}");
        console.log("event", event.do ?? "", "request", req.headers["x-scf-request-id"]);
        if (event.do === "fail") {
          res.writeHead(500, { "content-type": "application/json" });
          res.end(JSON.stringify({ error: "the image failed on purpose" }));
          return;
        }
        if (event.do === "exit") process.exit(3);
        if (event.do === "sleep") await new Promise((r) => setTimeout(r, event.ms));
        fs.writeFileSync("/tmp/last-event.json", body);
        res.writeHead(200, { "content-type": "application/json" });
        res.end(JSON.stringify({ event, scf: scf(req.headers), uid: process.getuid(), function: process.env.SCF_FUNCTIONNAME }));
        return;
      }
      res.writeHead(200, { "content-type": "text/plain", "x-served-by": "image" });
      res.end(`${req.method} ${req.url} request ${req.headers["x-scf-request-id"]}\n`);
    });
  })
  .listen(port, "0.0.0.0", () => console.log(`listening on ${port}`));
