/**
 * Trigger adapters on the local cluster with the real brokers it runs beside it (Kafka,
 * RabbitMQ, a user-facing NATS, versitygw; hack/brokers.sh): every invocation a function
 * receives is posted by the function to a sink this test serves on the node's bridge, so
 * the test sees exactly what ran, how often, with which event and TRIGGER_SRC.
 */
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { createServer, type Server } from "node:http";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { connect as natsConnect } from "@nats-io/transport-node";
import { Admin, Producer, stringSerializers } from "@platformatic/kafka";
import amqp from "amqplib";
import { AwsClient } from "aws4fetch";
import {
  applyYaml,
  apps,
  condition,
  core,
  deleteNamespace,
  getTrigger,
  HOST_IP,
  installFullUpdraft,
  kubectlOk,
  newNamespace,
  nodeFunction,
  ROOT,
  waitFor,
} from "./harness.ts";

const env = (k: string): string => {
  const v = process.env[k];
  if (!v) throw new Error(`${k} is not set: run under eval "$(make -s cluster-env)"`);
  return v;
};

interface Seen {
  fn: string;
  src: string;
  event: Record<string, unknown>;
  at: number;
}

let ns = "";
let sink: Server;
let sinkPort = 0;
const seen: Seen[] = [];

/** A function that posts what it received (and TRIGGER_SRC) to the sink; `extra` runs first. */
const recorder = (name: string, extra = "", spec = "") =>
  nodeFunction(
    name,
    `exports.main_handler = async (event, context) => {
  await fetch("http://${HOST_IP}:SINKPORT/", {
    method: "POST",
    body: JSON.stringify({ fn: "${name}", src: process.env.TRIGGER_SRC || "", event }),
  });
  ${extra}
  return "ok";
};`,
    spec,
  ).replace("SINKPORT", String(sinkPort));

const of = (fn: string) => seen.filter((s) => s.fn === fn);

async function adapterPods(trigger: string): Promise<string[]> {
  const pods = await core.listNamespacedPod({
    namespace: ns,
    labelSelector: `updraft.dev/trigger=${trigger}`,
  });
  return pods.items.filter((p) => !p.metadata?.deletionTimestamp).map((p) => p.metadata!.name!);
}

async function waitReady(trigger: string, timeoutMs = 120_000): Promise<void> {
  await waitFor(
    `trigger ${trigger} Ready`,
    async () => condition(await getTrigger(ns, trigger), "Ready")?.status === "True",
    timeoutMs,
    500,
  );
}

describe("trigger adapters", { timeout: 900_000 }, () => {
  before(async () => {
    await installFullUpdraft({
      "async.retryDelaysSeconds": "1,2",
      "objectStorage.enabled": true,
      "objectStorage.endpoint": env("UPDRAFT_S3_ENDPOINT"),
      "objectStorage.accessKey": env("UPDRAFT_S3_ACCESS_KEY"),
      "objectStorage.secretKey": env("UPDRAFT_S3_SECRET_KEY"),
      "objectStorage.feed.kafkaBrokers": env("UPDRAFT_KAFKA_BROKERS"),
      "objectStorage.feed.topic": env("UPDRAFT_S3_EVENTS_TOPIC"),
    });
    sink = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on("data", (c: Buffer) => chunks.push(c));
      req.on("end", () => {
        const body = JSON.parse(Buffer.concat(chunks).toString()) as Omit<Seen, "at">;
        seen.push({ ...body, at: Date.now() });
        res.end("ok");
      });
    });
    await new Promise<void>((r) => sink.listen(0, HOST_IP, () => r()));
    sinkPort = (sink.address() as { port: number }).port;
    ns = await newNamespace("trig");
  });

  after(async () => {
    sink?.close();
    if (ns) await deleteNamespace(ns);
  });

  it("a timer every 2 s fires each scheduled time exactly once, though its adapter pod is deleted midway and two replicas run after", async () => {
    applyYaml(ns, recorder("ticker"));
    applyYaml(
      ns,
      `apiVersion: updraft.dev/v1alpha1
kind: Trigger
metadata: {name: tick}
spec:
  function: ticker
  type: Timer
  timer: {cronExpression: "*/2 * * * * *", message: "hello timer"}
`,
    );
    await waitReady("tick");
    const t0 = Date.now();
    await waitFor(
      "10 s of ticks",
      async () => of("ticker").length >= 3 && Date.now() - t0 > 10_000,
      60_000,
      250,
    );
    const [pod] = await adapterPods("tick");
    assert.ok(pod, "the adapter runs as a pod");
    await core.deleteNamespacedPod({ namespace: ns, name: pod!, gracePeriodSeconds: 0 });
    // And from then on two replicas fire the same schedule side by side.
    kubectlOk(["-n", ns, "scale", "deployment/trig-tick", "--replicas=2"]);
    await waitFor("two adapters run", async () => (await adapterPods("tick")).length === 2, 60_000, 250);
    await waitFor("20 s watched", async () => Date.now() - t0 > 20_000, 60_000, 250);
    // Stop firing, then let what was stored run.
    kubectlOk(["-n", ns, "patch", "trigger", "tick", "--type=merge", "-p", '{"spec":{"enabled":false}}']);
    await waitFor("the adapter is gone", async () => (await adapterPods("tick")).length === 0, 60_000, 250);
    const times = () => of("ticker").map((s) => Date.parse(String(s.event.Time)));
    await waitFor(
      "every stored time ran",
      async () => {
        const ts = times();
        const span = (Math.max(...ts) - Math.min(...ts)) / 2000 + 1;
        return ts.length >= span;
      },
      60_000,
      500,
    );
    const ts = times().sort((a, b) => a - b);
    assert.equal(
      new Set(ts).size,
      ts.length,
      `no scheduled time ran twice: ${ts.map((t) => new Date(t).toISOString())}`,
    );
    for (let i = 1; i < ts.length; i++)
      assert.equal(
        ts[i]! - ts[i - 1]!,
        2000,
        `no scheduled time was missed (gap after ${new Date(ts[i - 1]!).toISOString()})`,
      );
    assert.ok(ts[ts.length - 1]! - ts[0]! >= 18_000, `fired over at least 20 s (${ts.length} times)`);
    for (const s of of("ticker")) {
      assert.equal(s.src, "timer", "TRIGGER_SRC=timer");
      assert.equal(s.event.Type, "Timer");
      assert.equal(s.event.TriggerName, "tick");
      assert.equal(s.event.Message, "hello timer");
      assert.match(String(s.event.Time), /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);
    }
    // Counts are written in batches (every 5 s): the pod killed without a grace period took
    // its unwritten ones with it, so firedCount is at most the times that ran, and written.
    const fired = await waitFor(
      "firedCount written",
      async () => {
        const n = Number((await getTrigger(ns, "tick")).status?.firedCount ?? 0);
        return n > 0 ? n : undefined;
      },
      30_000,
      500,
    );
    assert.ok(fired <= ts.length, `firedCount ${fired} counts no duplicate (${ts.length} times ran)`);
    assert.equal(condition(await getTrigger(ns, "tick"), "Ready")?.reason, "Disabled");
  });

  it("100 Kafka records on 3 partitions reach a function at zero, in order per partition, none re-run after its commit, though the adapter is killed mid-way", async () => {
    const brokers = [env("UPDRAFT_KAFKA_BROKERS")];
    const topic = `orders-${ns}`;
    const admin = new Admin({ clientId: "updraft-test", bootstrapBrokers: brokers });
    await admin.createTopics({ topics: [topic], partitions: 3, replicas: 1 });
    const producer = new Producer({
      clientId: "updraft-test",
      bootstrapBrokers: brokers,
      serializers: stringSerializers,
    });
    try {
      // Slow enough that the kill lands while batches are in flight.
      applyYaml(ns, recorder("korders", "await new Promise((r) => setTimeout(r, 150));"));
      applyYaml(
        ns,
        `apiVersion: updraft.dev/v1alpha1
kind: Trigger
metadata: {name: orders}
spec:
  function: korders
  type: Kafka
  kafka: {brokers: ["${brokers[0]}"], topic: ${topic}, startingOffset: earliest, batchSize: 4}
`,
      );
      await waitReady("orders");
      const fnDeployment = await apps.readNamespacedDeployment({ namespace: ns, name: "fn-korders" });
      assert.equal(
        fnDeployment.spec?.replicas ?? 0,
        0,
        "the function is at zero when the records are produced",
      );
      await producer.send({
        messages: Array.from({ length: 100 }, (_, i) => ({
          topic,
          partition: i % 3,
          key: `k${i}`,
          value: `m${i}`,
        })),
      });
      const records = () =>
        of("korders").flatMap((s) =>
          (
            s.event.Records as {
              Ckafka: { partition: number; offset: number; msgBody: string; msgKey: string };
            }[]
          ).map((r) => r.Ckafka),
        );
      await waitFor("some records ran", async () => records().length >= 20, 120_000, 100);
      const [pod] = await adapterPods("orders");
      await core.deleteNamespacedPod({ namespace: ns, name: pod!, gracePeriodSeconds: 0 });
      await waitFor(
        "the killed adapter is gone",
        async () => !(await adapterPods("orders")).includes(pod!),
        60_000,
        200,
      );
      const committedAtKill = new Map<number, number>();
      const groups = await admin.listConsumerGroupOffsets({ groups: [`updraft-${ns}-orders`] });
      for (const g of groups)
        for (const t of g.topics)
          for (const p of t.partitions) committedAtKill.set(p.partitionIndex, Number(p.committedOffset));
      await waitFor(
        "all 100 records ran",
        async () => new Set(records().map((r) => r.msgBody)).size === 100,
        180_000,
        250,
      );
      const all = records();
      for (let p = 0; p < 3; p++) {
        const offsets = all.filter((r) => r.partition === p).map((r) => r.offset);
        const firstSeen = offsets.filter((o, i) => offsets.indexOf(o) === i);
        assert.deepEqual(
          firstSeen,
          [...firstSeen].sort((a, b) => a - b),
          `partition ${p} ran in order`,
        );
        const committed = committedAtKill.get(p) ?? 0;
        for (const o of new Set(offsets)) {
          const runs = offsets.filter((x) => x === o).length;
          if (o < committed)
            assert.equal(runs, 1, `partition ${p} offset ${o} was committed before the kill: it ran once`);
        }
      }
      assert.ok(
        [...committedAtKill.values()].some((c) => c > 0),
        "some offsets were committed before the kill",
      );
      assert.ok(
        all.every((r) => /^m\d+$/.test(r.msgBody) && r.msgKey === `k${r.msgBody.slice(1)}`),
        "CKafka msgKey and msgBody",
      );
      assert.ok(
        of("korders").every((s) => s.src === "ckafka"),
        "TRIGGER_SRC=ckafka",
      );
    } finally {
      await producer.close();
      await admin.close();
    }
  });

  it("a Kafka batch the function fails is retried maxRetries times, then dead-lettered and counted", async () => {
    const brokers = [env("UPDRAFT_KAFKA_BROKERS")];
    const topic = `fail-${ns}`;
    const admin = new Admin({ clientId: "updraft-test", bootstrapBrokers: brokers });
    try {
      await admin.createTopics({ topics: [topic], partitions: 1, replicas: 1 });
    } finally {
      await admin.close();
    }
    applyYaml(ns, recorder("kdlq"));
    applyYaml(
      ns,
      recorder("kfails", 'throw new Error("always fails");', "  async: {deadLetter: {function: kdlq}}\n"),
    );
    applyYaml(
      ns,
      `apiVersion: updraft.dev/v1alpha1
kind: Trigger
metadata: {name: fails}
spec:
  function: kfails
  type: Kafka
  kafka: {brokers: ["${brokers[0]}"], topic: ${topic}, startingOffset: earliest, batchSize: 1, maxRetries: 2}
`,
    );
    const producer = new Producer({
      clientId: "updraft-test",
      bootstrapBrokers: brokers,
      serializers: stringSerializers,
    });
    try {
      await producer.send({ messages: [{ topic, key: "x", value: "poison" }] });
    } finally {
      await producer.close();
    }
    await waitFor("the dead letter arrived", async () => of("kdlq").length === 1, 180_000, 250);
    assert.equal(of("kfails").length, 3, "one run and two retries");
    const letter = of("kdlq")[0]!.event as {
      ErrorMessage: string;
      Event: { Records: { Ckafka: { msgBody: string } }[] };
    };
    assert.equal(letter.Event.Records[0]!.Ckafka.msgBody, "poison");
    await waitFor(
      "failedCount written",
      async () => Number((await getTrigger(ns, "fails")).status?.failedCount ?? 0) === 1,
      30_000,
      500,
    );
  });

  it("Kafka batches over the function's concurrency.max wait (432) without using up retries: all run, none dead-lettered", async () => {
    const brokers = [env("UPDRAFT_KAFKA_BROKERS")];
    const topic = `slow-${ns}`;
    const admin = new Admin({ clientId: "updraft-test", bootstrapBrokers: brokers });
    const producer = new Producer({
      clientId: "updraft-test",
      bootstrapBrokers: brokers,
      serializers: stringSerializers,
    });
    try {
      // Six partitions at once against max 2: more than the two activators can admit even
      // if each took the whole max for itself, so some batches are refused (432).
      await admin.createTopics({ topics: [topic], partitions: 6, replicas: 1 });
      applyYaml(
        ns,
        recorder(
          "kslow",
          "await new Promise((r) => setTimeout(r, 300));",
          "  concurrency: {perInstance: 1, max: 2}\n",
        ),
      );
      applyYaml(
        ns,
        `apiVersion: updraft.dev/v1alpha1
kind: Trigger
metadata: {name: slow}
spec:
  function: kslow
  type: Kafka
  kafka: {brokers: ["${brokers[0]}"], topic: ${topic}, startingOffset: earliest, batchSize: 1, maxRetries: 0}
`,
      );
      await waitReady("slow");
      await producer.send({
        messages: Array.from({ length: 30 }, (_, i) => ({ topic, partition: i % 6, value: `s${i}` })),
      });
      await waitFor(
        "all 30 ran",
        async () => new Set(of("kslow").map((s) => JSON.stringify(s.event))).size === 30,
        180_000,
        250,
      );
      const [pod] = await adapterPods("slow");
      const ip = (await core.readNamespacedPod({ namespace: ns, name: pod! })).status?.podIP;
      const metrics = await (await fetch(`http://${ip}:8080/metrics`)).text();
      const throttled = Number(
        /updraft_trigger_delivery_failures_total\{[^}]*kind="throttled"[^}]*\} (\d+)/.exec(metrics)?.[1] ?? 0,
      );
      assert.ok(throttled > 0, `six partitions against max 2 were throttled (${throttled} times)`);
      assert.equal(
        Number((await getTrigger(ns, "slow")).status?.failedCount ?? 0),
        0,
        "nothing dead-lettered: maxRetries 0 was never used up",
      );
    } finally {
      await producer.close();
      await admin.close();
    }
  });

  it("an upload under the prefix invokes the function with its key, size and etag; one outside the filters invokes nothing; a missing bucket is Ready=False", async () => {
    const endpoint = env("UPDRAFT_S3_ENDPOINT");
    const s3 = new AwsClient({
      accessKeyId: env("UPDRAFT_S3_ACCESS_KEY"),
      secretAccessKey: env("UPDRAFT_S3_SECRET_KEY"),
      service: "s3",
      region: "us-east-1",
    });
    const bucket = `up-${ns}`.slice(0, 63);
    const put = async (key: string, body: string) => {
      const r = await s3.fetch(`${endpoint}/${bucket}${key ? `/${key}` : ""}`, { method: "PUT", body });
      assert.ok(r.ok, `PUT ${key}: ${r.status} ${await r.text()}`);
      return r.headers.get("etag")?.replace(/"/g, "") ?? "";
    };
    applyYaml(ns, recorder("uploads"));
    applyYaml(
      ns,
      `apiVersion: updraft.dev/v1alpha1
kind: Trigger
metadata: {name: uploads}
spec:
  function: uploads
  type: ObjectStorage
  objectStorage: {bucket: ${bucket}, events: ["cos:ObjectCreated:*"], prefix: "in/", suffix: ".txt"}
`,
    );
    const missing = await waitFor(
      "Ready=False while the bucket is missing",
      async () => {
        const c = condition(await getTrigger(ns, "uploads"), "Ready");
        return c?.status === "False" && c.reason === "BucketNotFound" ? c : undefined;
      },
      60_000,
      500,
    );
    assert.match(missing.message ?? "", new RegExp(bucket));
    await put("", "");
    await waitReady("uploads");
    await put("out/skip.txt", "not under the prefix");
    await put("in/skip.png", "not the suffix");
    const etag = await put("in/hello.txt", "hello, object");
    await waitFor("the upload's event ran", async () => of("uploads").length >= 1, 60_000, 250);
    // A second matching upload, after the others: when it has run, the feed went past them.
    await put("in/second.txt", "2");
    await waitFor("the second upload ran", async () => of("uploads").length >= 2, 60_000, 250);
    const keys = of("uploads").map((s) => {
      const r = (
        s.event.Records as {
          cos: { cosObject: { key: string; size: number; meta: { ETag: string } } };
          event: { eventName: string };
        }[]
      )[0]!;
      return {
        key: r.cos.cosObject.key,
        size: r.cos.cosObject.size,
        etag: r.cos.cosObject.meta.ETag,
        name: r.event.eventName,
      };
    });
    assert.deepEqual(keys.map((k) => k.key).sort(), [
      `/local/${bucket}/in/hello.txt`,
      `/local/${bucket}/in/second.txt`,
    ]);
    const hello = keys.find((k) => k.key.endsWith("hello.txt"))!;
    assert.equal(hello.size, "hello, object".length);
    assert.equal(hello.etag, etag);
    assert.match(hello.name, /^cos:ObjectCreated:/);
    assert.ok(
      of("uploads").every((s) => s.src === "cos"),
      "TRIGGER_SRC=cos",
    );
  });

  it("one NATS message and one AMQP message each arrive exactly once", async () => {
    const natsUrl = env("UPDRAFT_USER_NATS_URL");
    const amqpUrl = env("UPDRAFT_AMQP_URL");
    const user = env("UPDRAFT_USER_NATS_USER");
    const pass = env("UPDRAFT_USER_NATS_PASSWORD");
    kubectlOk([
      "-n",
      ns,
      "create",
      "secret",
      "generic",
      "broker-creds",
      `--from-literal=username=${user}`,
      `--from-literal=password=${pass}`,
    ]);
    applyYaml(ns, recorder("queued"));
    const queue = `orders-${ns}`;
    applyYaml(
      ns,
      `apiVersion: updraft.dev/v1alpha1
kind: Trigger
metadata: {name: from-nats}
spec:
  function: queued
  type: Queue
  queue: {protocol: NATS, url: "${natsUrl}", topic: "orders.${ns}", credentialsSecret: broker-creds}
---
apiVersion: updraft.dev/v1alpha1
kind: Trigger
metadata: {name: from-amqp}
spec:
  function: queued
  type: Queue
  queue: {protocol: AMQP, url: "${amqpUrl.replace(/\/\/[^@]*@/, "//")}", topic: ${queue}, credentialsSecret: broker-creds}
`,
    );
    await waitReady("from-nats");
    await waitReady("from-amqp");
    const nc = await natsConnect({ servers: natsUrl, user, pass });
    try {
      const reply = await nc.request(`orders.${ns}`, "paid over nats", { timeout: 30_000 });
      assert.match(reply.string(), /requestId/, "the NATS message is answered once its event is stored");
    } finally {
      await nc.close();
    }
    const conn = await amqp.connect(amqpUrl);
    try {
      const ch = await conn.createConfirmChannel();
      await ch.assertQueue(queue, { durable: true });
      ch.sendToQueue(queue, Buffer.from("paid over amqp"), { messageId: `m-${ns}`, persistent: true });
      await ch.waitForConfirms();
    } finally {
      await conn.close();
    }
    const bodies = () =>
      of("queued").map((s) => (s.event.Records as { CMQ: { msgBody: string; type: string } }[])[0]!.CMQ);
    await waitFor("both messages ran", async () => bodies().length >= 2, 120_000, 250);
    // Each answered (NATS reply) or acknowledged (AMQP, queue empty) only once stored: no redelivery left.
    const check = await amqp.connect(amqpUrl);
    try {
      const ch = await check.createChannel();
      await waitFor(
        "the AMQP queue is empty and acknowledged",
        async () => {
          const q = await ch.checkQueue(queue);
          return q.messageCount === 0;
        },
        30_000,
        250,
      );
    } finally {
      await check.close();
    }
    assert.deepEqual(
      bodies()
        .map((b) => `${b.type}:${b.msgBody}`)
        .sort(),
      ["queue:paid over amqp", "topic:paid over nats"],
    );
    assert.ok(
      of("queued").every((s) => s.src === "cmq"),
      "TRIGGER_SRC=cmq",
    );
  });

  it("a Trigger whose broker is stopped is Ready=False and recovers on its own when it is back", async () => {
    await waitReady("from-nats");
    execFileSync(join(ROOT, "hack/brokers.sh"), ["stop", "nats"], { stdio: "inherit" });
    try {
      await waitFor(
        "Ready=False BrokerUnreachable",
        async () => {
          const c = condition(await getTrigger(ns, "from-nats"), "Ready");
          return c?.status === "False" && c.reason === "BrokerUnreachable";
        },
        60_000,
        500,
      );
    } finally {
      execFileSync(join(ROOT, "hack/brokers.sh"), ["start"], { stdio: "inherit" });
    }
    await waitReady("from-nats", 60_000);
  });
});
