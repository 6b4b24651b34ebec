/**
 * The instance announcement's two calls out of the activator (activator/announce.ts decides;
 * these do): read the announced pod from the API server, and pass a first-hand announcement
 * on to the other activator replicas.
 */
import type { CoreV1Api, V1Pod } from "@kubernetes/client-node";
import { Agent } from "undici";
import { isNotFound } from "../lib/errors.ts";
import { INSTANCE_ANNOUNCE_PATH } from "../protocol/announce.ts";
import { UpdraftHeaders } from "../protocol/headers.ts";

/** GET one pod; undefined when it does not exist (other errors throw: the shim tries again). */
export function kubePodReader(
  core: CoreV1Api,
): (namespace: string, name: string) => Promise<V1Pod | undefined> {
  return async (namespace, name) => {
    try {
      return await core.readNamespacedPod({ namespace, name });
    } catch (err) {
      if (isNotFound(err)) return undefined;
      throw err;
    }
  };
}

/**
 * POSTs an announcement to every other replica (marked relayed, so it goes no further),
 * without waiting: a replica that misses it still has the EndpointSlice path.
 */
export function relayToPeers(
  peers: () => readonly string[],
  self: string,
  port: number,
  relayProof: string,
  onError: (peer: string, err: unknown) => void,
): (body: Buffer) => void {
  const agent = new Agent({ keepAliveTimeout: 10_000, connections: 4 });
  return (body) => {
    for (const peer of peers()) {
      if (peer === self) continue;
      agent
        .request({
          origin: `http://${peer}:${port}`,
          path: INSTANCE_ANNOUNCE_PATH,
          method: "POST",
          headers: { "content-type": "application/json", [UpdraftHeaders.relayed]: relayProof },
          body,
          headersTimeout: 1000,
          bodyTimeout: 1000,
        })
        .then((r) => r.body.dump())
        .catch((err: unknown) => onError(peer, err));
    }
  };
}
