/**
 * Trigger bench, all in one run against the local cluster's real brokers:
 * - events/s through each adapter (Kafka, NATS, AMQP, object storage) beside direct async
 *   invokes of the same function (the baseline): from the first event sent to the last one
 *   run, counted by a sink the function posts to;
 * - timer jitter: how long after its scheduled second an every-second timer's event runs,
 *   p50/p99, beside a plain setTimeout scheduler in this process that invokes the same
 *   function asynchronously at each second (the baseline);
 * - Kafka produce-to-function latency p50/p99, one record at a time.
 *
 *   make bench-triggers        (or: node bench/triggers.ts [events])
 */
import { createServer } from "node:http";
import { connect as natsConnect } from "@nats-io/transport-node";
import { Admin, Producer, stringSerializers } from "@platformatic/kafka";
import amqp from "amqplib";
import { AwsClient } from "aws4fetch";
import {
  applyYaml,
  condition,
  deleteNamespace,
  getTrigger,
  HOST_IP,
  installFullUpdraft,
  invokeAuth,
  newNamespace,
  waitFor,
} from "../test/integration/harness.ts";

const events = Number(process.argv[2] ?? 500);
const env = (k: string) => {
  const v = process.env[k];
  if (!v) throw new Error(`${k} unset: eval "$(make -s cluster-env)"`);
  return v;
};

interface Arrival {
  tag: string;
  at: number;
  event: Record<string, unknown>;
}
const arrivals: Arrival[] = [];

const pct = (xs: number[], p: number) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))] ?? Number.NaN;
};
const rate = (n: number, ms: number) => (n / ms) * 1000;

async function main(): Promise<void> {
  const base = await installFullUpdraft({
    "objectStorage.enabled": true,
    "objectStorage.endpoint": env("UPDRAFT_S3_ENDPOINT"),
    "objectStorage.accessKey": env("UPDRAFT_S3_ACCESS_KEY"),
    "objectStorage.secretKey": env("UPDRAFT_S3_SECRET_KEY"),
    "objectStorage.feed.kafkaBrokers": env("UPDRAFT_KAFKA_BROKERS"),
    "objectStorage.feed.topic": env("UPDRAFT_S3_EVENTS_TOPIC"),
  });
  const sink = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => {
      const at = Date.now();
      const body = JSON.parse(Buffer.concat(chunks).toString()) as {
        tag: string;
        event: Record<string, unknown>;
      };
      arrivals.push({ tag: body.tag, at, event: body.event });
      res.end("ok");
    });
  });
  await new Promise<void>((r) => sink.listen(0, HOST_IP, () => r()));
  const port = (sink.address() as { port: number }).port;
  const ns = await newNamespace("bench-trig");
  const brokers = [env("UPDRAFT_KAFKA_BROKERS")];
  const admin = new Admin({ clientId: "bench", bootstrapBrokers: brokers });
  const producer = new Producer({
    clientId: "bench",
    bootstrapBrokers: brokers,
    serializers: stringSerializers,
  });
  try {
    // The function tags each record of an event with where it came from (the event's
    // shape says it), so one warm function serves every case.
    applyYaml(
      ns,
      `apiVersion: updraft.dev/v1alpha1
kind: Function
metadata: {name: sink}
spec:
  runtime: nodejs24
  handler: index.main_handler
  memoryMB: 512
  concurrency: {perInstance: 16}
  scaling: {minInstances: 2, maxInstances: 2}
  code:
    inline:
      index.js: |
        exports.main_handler = async (event) => {
          const recs = event.Records || [event];
          await Promise.all(recs.map((r) => fetch("http://${HOST_IP}:${port}/", {
            method: "POST",
            body: JSON.stringify({ tag: event.tag || process.env.TRIGGER_SRC || "direct", event: r }),
          })));
          return recs.length;
        };
`,
    );
    const url = `${base}/v1/namespaces/${ns}/functions/sink/invocations`;
    await waitFor(
      "sink warm",
      async () =>
        (await fetch(url, { method: "POST", headers: invokeAuth(), body: '{"tag":"warm"}' })).status === 200,
      120_000,
      500,
    );
    const topic = `bench-${ns}`;
    const latencyTopic = `bench-lat-${ns}`;
    await admin.createTopics({ topics: [topic], partitions: 3, replicas: 1 });
    await admin.createTopics({ topics: [latencyTopic], partitions: 1, replicas: 1 });
    const bucket = `bench-${ns}`.slice(0, 63);
    const s3 = new AwsClient({
      accessKeyId: env("UPDRAFT_S3_ACCESS_KEY"),
      secretAccessKey: env("UPDRAFT_S3_SECRET_KEY"),
      service: "s3",
      region: "us-east-1",
    });
    await s3.fetch(`${env("UPDRAFT_S3_ENDPOINT")}/${bucket}`, { method: "PUT" });
    const amqpQueue = `bench-${ns}`;
    applyYaml(
      ns,
      `apiVersion: v1
kind: Secret
metadata: {name: creds}
stringData: {username: ${env("UPDRAFT_USER_NATS_USER")}, password: ${env("UPDRAFT_USER_NATS_PASSWORD")}}
---
apiVersion: updraft.dev/v1alpha1
kind: Trigger
metadata: {name: kafka}
spec: {function: sink, type: Kafka, kafka: {brokers: ["${brokers[0]}"], topic: ${topic}, batchSize: 10}}
---
apiVersion: updraft.dev/v1alpha1
kind: Trigger
metadata: {name: kafka-latency}
spec: {function: sink, type: Kafka, kafka: {brokers: ["${brokers[0]}"], topic: ${latencyTopic}, batchSize: 1}}
---
apiVersion: updraft.dev/v1alpha1
kind: Trigger
metadata: {name: nats}
spec: {function: sink, type: Queue, queue: {protocol: NATS, url: "${env("UPDRAFT_USER_NATS_URL")}", topic: "bench.${ns}", credentialsSecret: creds}}
---
apiVersion: updraft.dev/v1alpha1
kind: Trigger
metadata: {name: amqp}
spec: {function: sink, type: Queue, queue: {protocol: AMQP, url: "${env("UPDRAFT_AMQP_URL").replace(/\/\/[^@]*@/, "//")}", topic: ${amqpQueue}, credentialsSecret: creds}}
---
apiVersion: updraft.dev/v1alpha1
kind: Trigger
metadata: {name: cos}
spec: {function: sink, type: ObjectStorage, objectStorage: {bucket: ${bucket}, events: ["cos:ObjectCreated:*"]}}
`,
    );
    for (const t of ["kafka", "kafka-latency", "nats", "amqp", "cos"])
      await waitFor(
        `${t} Ready`,
        async () => condition(await getTrigger(ns, t), "Ready")?.status === "True",
        120_000,
        500,
      );

    const measure = async (tag: string, n: number, send: () => Promise<void>) => {
      const before = arrivals.filter((a) => a.tag === tag).length;
      const t0 = Date.now();
      await send();
      await waitFor(
        `${tag}: ${n} run`,
        async () => arrivals.filter((a) => a.tag === tag).length >= before + n,
        600_000,
        50,
      );
      const last = Math.max(...arrivals.filter((a) => a.tag === tag).map((a) => a.at));
      return rate(n, last - t0);
    };
    const pool = async (n: number, width: number, fn: (i: number) => Promise<void>) => {
      let next = 0;
      await Promise.all(
        Array.from({ length: width }, async () => {
          while (next < n) await fn(next++);
        }),
      );
    };

    const results: Record<string, number> = {};
    results.direct = await measure("direct", events, () =>
      pool(events, 16, async (i) => {
        const r = await fetch(url, {
          method: "POST",
          headers: { ...invokeAuth(), "X-Updraft-Invocation-Type": "Event" },
          body: JSON.stringify({ i }),
        });
        await r.arrayBuffer();
      }),
    );
    results.kafka = await measure("ckafka", events, async () => {
      await producer.send({
        messages: Array.from({ length: events }, (_, i) => ({ topic, partition: i % 3, value: String(i) })),
      });
    });
    const nc = await natsConnect({
      servers: env("UPDRAFT_USER_NATS_URL"),
      user: env("UPDRAFT_USER_NATS_USER"),
      pass: env("UPDRAFT_USER_NATS_PASSWORD"),
    });
    results.nats = await measure("cmq", events, async () => {
      for (let i = 0; i < events; i++) nc.publish(`bench.${ns}`, String(i));
      await nc.flush();
    });
    await nc.close();
    const conn = await amqp.connect(env("UPDRAFT_AMQP_URL"));
    const ch = await conn.createConfirmChannel();
    await ch.assertQueue(amqpQueue, { durable: true });
    results.amqp = await measure("cmq", events, async () => {
      for (let i = 0; i < events; i++)
        ch.sendToQueue(amqpQueue, Buffer.from(String(i)), { messageId: `b${i}`, persistent: true });
      await ch.waitForConfirms();
    });
    await conn.close();
    const uploads = Math.min(events, 200);
    results.objectStorage = await measure("cos", uploads, () =>
      pool(uploads, 8, async (i) => {
        const r = await s3.fetch(`${env("UPDRAFT_S3_ENDPOINT")}/${bucket}/o${i}`, {
          method: "PUT",
          body: "x",
        });
        await r.arrayBuffer();
      }),
    );

    // Kafka produce-to-function latency: one record at a time, 100 of them.
    const lat: number[] = [];
    for (let i = 0; i < 100; i++) {
      const sent = Date.now();
      const before = arrivals.length;
      await producer.send({ messages: [{ topic: latencyTopic, value: `l${i}` }] });
      await waitFor(
        "latency record",
        async () =>
          arrivals
            .slice(before)
            .some((a) => (a.event as { Ckafka?: { msgBody: string } }).Ckafka?.msgBody === `l${i}`),
        60_000,
        1,
      );
      const a = arrivals
        .slice(before)
        .find((x) => (x.event as { Ckafka?: { msgBody: string } }).Ckafka?.msgBody === `l${i}`)!;
      lat.push(a.at - sent);
    }

    // Timer jitter beside a setTimeout scheduler, same 20 s, same function.
    applyYaml(
      ns,
      `apiVersion: updraft.dev/v1alpha1
kind: Trigger
metadata: {name: every-second}
spec: {function: sink, type: Timer, timer: {cronExpression: "* * * * * *"}}
`,
    );
    await waitFor(
      "timer Ready",
      async () => condition(await getTrigger(ns, "every-second"), "Ready")?.status === "True",
      120_000,
      500,
    );
    const timerStart = Date.now() + 1000;
    const baseline: Promise<void>[] = [];
    const stopAt = timerStart + 20_000;
    const tick = (at: number) => {
      if (at > stopAt) return;
      setTimeout(() => {
        baseline.push(
          fetch(url, {
            method: "POST",
            headers: { ...invokeAuth(), "X-Updraft-Invocation-Type": "Event" },
            body: JSON.stringify({ tag: "settimeout", Time: new Date(at).toISOString() }),
          })
            .then((r) => r.arrayBuffer())
            .then(() => undefined),
        );
        tick(at + 1000);
      }, at - Date.now());
    };
    tick(Math.ceil(timerStart / 1000) * 1000);
    await waitFor("20 s of timers", async () => Date.now() > stopAt + 3000, 60_000, 200);
    await Promise.all(baseline);
    const jitter = (tag: string) =>
      arrivals
        .filter(
          (a) =>
            a.tag === tag &&
            Date.parse(String(a.event.Time)) >= timerStart &&
            Date.parse(String(a.event.Time)) <= stopAt,
        )
        .map((a) => a.at - Date.parse(String(a.event.Time)));
    const timerJ = jitter("timer");
    const baseJ = jitter("settimeout");

    console.log(
      `\n## Trigger bench (${events} events per source; same run, same warm function: 2 instances × 16)\n`,
    );
    console.log("| path | events/s | × direct async invokes |\n|---|---|---|");
    for (const [k, v] of Object.entries(results))
      console.log(`| ${k} | ${v.toFixed(0)} | ${(v / results.direct!).toFixed(2)} |`);
    console.log(
      `\nKafka produce → function (one record at a time, 100): p50 ${pct(lat, 50)} ms, p99 ${pct(lat, 99)} ms`,
    );
    console.log(
      `Timer jitter (scheduled second → function running, 20 s every second): adapter p50 ${pct(timerJ, 50)} ms, p99 ${pct(timerJ, 99)} ms (${timerJ.length} fires); setTimeout + async invoke p50 ${pct(baseJ, 50)} ms, p99 ${pct(baseJ, 99)} ms (${baseJ.length} fires)`,
    );
  } finally {
    await producer.close();
    await admin.close();
    sink.close();
    await deleteNamespace(ns);
  }
}

main().then(
  () => process.exit(0),
  (err: unknown) => {
    console.error(err);
    process.exit(1);
  },
);
