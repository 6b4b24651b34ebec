import assert from "node:assert/strict";
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { describe, it } from "node:test";
import type { InstanceAnnouncement } from "../protocol/announce.ts";
import { announceInstance, postJson } from "./announce.ts";

const announcement: InstanceAnnouncement = {
  namespace: "team-a",
  pod: "fn-hello-7d9f-abcde",
  uid: "0f8fad5b-d9cb-469f-a165-70867728950e",
  ip: "10.88.0.7",
};

/** A real HTTP server on port 0 that answers each POST with the next status of `statuses`. */
async function activator(statuses: number[]) {
  const bodies: unknown[] = [];
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => {
      bodies.push(JSON.parse(Buffer.concat(chunks).toString("utf8")));
      res.writeHead(statuses.shift() ?? 202).end();
    });
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", () => r()));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/internal/instances`;
  return { url, bodies, close: () => server.close() };
}

// The shim's own POST (node:http), against the real server.
const post = (url: string, body: string) => postJson(url, body, 1000);

/** Announces to a real server answering `statuses` in turn; the outcome and what it received. */
async function announceTo(
  statuses: number[],
  opts: Partial<Parameters<typeof announceInstance>[0]> = {},
): Promise<{ outcome: string; bodies: unknown[] }> {
  const a = await activator(statuses);
  try {
    const outcome = await announceInstance({
      url: a.url,
      announcement,
      isReady: () => true,
      withinMs: 5000,
      post,
      ...opts,
    });
    return { outcome, bodies: a.bodies };
  } finally {
    a.close();
  }
}

describe("announceInstance", () => {
  it("waits until the shim is ready, then posts the announcement once", async () => {
    let ready = false;
    setTimeout(() => {
      ready = true;
    }, 50);
    const { outcome, bodies } = await announceTo([202], { isReady: () => ready });
    assert.equal(outcome, "announced");
    assert.deepEqual(bodies, [announcement], "one POST, after ready, with the pod's name, UID and address");
  });
  it("tries again while the activator answers 5xx (its Service has no ready replica yet)", async () => {
    const { outcome, bodies } = await announceTo([503, 502]);
    assert.equal(outcome, "announced");
    assert.equal(bodies.length, 3);
  });
  it("postJson: a server that never answers is an error after the time-out, not a hang", async () => {
    const server = createServer(() => undefined);
    await new Promise<void>((r) => server.listen(0, "127.0.0.1", () => r()));
    const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/`;
    await assert.rejects(postJson(url, "{}", 100), /no answer within 100 ms/);
    server.closeAllConnections();
    server.close();
  });
  it("stops at a refusal (403): trying again cannot help", async () => {
    const { outcome, bodies } = await announceTo([403]);
    assert.equal(outcome, "refused");
    assert.equal(bodies.length, 1);
  });
  it("gives up when the shim is not ready in time, and posts nothing", async () => {
    const clock = { t: 0 };
    const { outcome, bodies } = await announceTo([], {
      isReady: () => false,
      withinMs: 1000,
      now: () => clock.t,
      sleep: async (ms) => {
        clock.t += ms;
      },
    });
    assert.equal(outcome, "gave-up");
    assert.equal(bodies.length, 0);
  });
});
