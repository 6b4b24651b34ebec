/**
 * A pod's volumes on the host, ready to be bind-mounted into its containers: emptyDir as a
 * sized tmpfs, ConfigMap, Secret, downwardAPI and projected volumes (including the
 * service-account token from the TokenRequest API, refreshed at 80 % of its lifetime) as
 * files, hostPath as itself.
 */
import { chmodSync, mkdirSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import type {
  V1ConfigMap,
  V1DownwardAPIVolumeFile,
  V1KeyToPath,
  V1Pod,
  V1Secret,
  V1Volume,
} from "@kubernetes/client-node";
import {
  ContainerConfigError,
  fieldPathValue,
  type NodeFacts,
  parseQuantity,
  resourceFieldValue,
} from "./podspec.ts";
import { mountTmpfs } from "./sandbox.ts";

export interface VolumeApi {
  configMap(namespace: string, name: string): Promise<V1ConfigMap | undefined>;
  secret(namespace: string, name: string): Promise<V1Secret | undefined>;
  token(
    pod: V1Pod,
    serviceAccount: string,
    audience: string | undefined,
    expirationSeconds: number,
  ): Promise<{ token: string; expiresAt: Date }>;
}

export interface MaterializedVolume {
  hostPath: string;
  /** Re-creates token files before they expire. */
  refreshAt?: Date;
}

function writeFile(dir: string, path: string, content: string | Buffer, mode: number): void {
  if (path.includes("..")) throw new ContainerConfigError(`volume item path ${path} must not contain ..`);
  const file = join(dir, path);
  mkdirSync(dirname(file), { recursive: true });
  writeFileSync(file, content);
  chmodSync(file, mode);
}

function writeKeys(
  dir: string,
  data: Record<string, string | Buffer>,
  items: V1KeyToPath[] | undefined,
  defaultMode: number,
  what: string,
  optional: boolean,
): void {
  if (items?.length) {
    for (const item of items) {
      const value = data[item.key];
      if (value === undefined) {
        if (optional) continue;
        throw new ContainerConfigError(`${what}: key ${item.key} not found`);
      }
      writeFile(dir, item.path, value, item.mode ?? defaultMode);
    }
    return;
  }
  for (const [k, v] of Object.entries(data)) writeFile(dir, k, v, defaultMode);
}

function secretData(s: V1Secret): Record<string, Buffer> {
  const out: Record<string, Buffer> = {};
  for (const [k, v] of Object.entries(s.data ?? {})) out[k] = Buffer.from(v, "base64");
  for (const [k, v] of Object.entries(s.stringData ?? {})) out[k] = Buffer.from(v);
  return out;
}

function writeDownward(
  dir: string,
  pod: V1Pod,
  items: V1DownwardAPIVolumeFile[] | undefined,
  mode: number,
  facts: NodeFacts,
): void {
  for (const item of items ?? []) {
    let value = "";
    if (item.fieldRef) value = fieldPathValue(pod, item.fieldRef.fieldPath, facts);
    else if (item.resourceFieldRef) {
      const c =
        pod.spec?.containers.find((x) => x.name === item.resourceFieldRef?.containerName) ??
        pod.spec?.containers[0];
      value = c
        ? resourceFieldValue(c, item.resourceFieldRef.resource, item.resourceFieldRef.divisor as string)
        : "0";
    }
    writeFile(dir, item.path, value, item.mode ?? mode);
  }
}

/** Creates the volume under podDir/volumes/<name> and says where it is. */
export async function materializeVolume(
  pod: V1Pod,
  volume: V1Volume,
  podDir: string,
  api: VolumeApi,
  facts: NodeFacts,
  now: () => Date,
): Promise<MaterializedVolume> {
  const ns = pod.metadata!.namespace!;
  const dir = join(podDir, "volumes", volume.name);
  if (volume.hostPath) return { hostPath: volume.hostPath.path };
  if (volume.emptyDir) {
    const limit = volume.emptyDir.sizeLimit ? parseQuantity(String(volume.emptyDir.sizeLimit)) : undefined;
    await mountTmpfs(dir, limit);
    return { hostPath: dir };
  }
  mkdirSync(dir, { recursive: true });
  chmodSync(dir, 0o755);
  if (volume.configMap) {
    const cm = await api.configMap(ns, volume.configMap.name!);
    if (!cm && !volume.configMap.optional)
      throw new ContainerConfigError(`configmap "${volume.configMap.name}" not found`);
    const data: Record<string, string | Buffer> = { ...cm?.data };
    for (const [k, v] of Object.entries(cm?.binaryData ?? {})) data[k] = Buffer.from(v, "base64");
    writeKeys(
      dir,
      data,
      volume.configMap.items,
      volume.configMap.defaultMode ?? 0o644,
      `configmap ${volume.configMap.name}`,
      !!volume.configMap.optional,
    );
    return { hostPath: dir };
  }
  if (volume.secret) {
    const s = await api.secret(ns, volume.secret.secretName!);
    if (!s && !volume.secret.optional)
      throw new ContainerConfigError(`secret "${volume.secret.secretName}" not found`);
    writeKeys(
      dir,
      s ? secretData(s) : {},
      volume.secret.items,
      volume.secret.defaultMode ?? 0o644,
      `secret ${volume.secret.secretName}`,
      !!volume.secret.optional,
    );
    return { hostPath: dir };
  }
  if (volume.downwardAPI) {
    writeDownward(dir, pod, volume.downwardAPI.items, volume.downwardAPI.defaultMode ?? 0o644, facts);
    return { hostPath: dir };
  }
  if (volume.projected) {
    const mode = volume.projected.defaultMode ?? 0o644;
    let refreshAt: Date | undefined;
    for (const src of volume.projected.sources ?? []) {
      if (src.serviceAccountToken) {
        const expiration = src.serviceAccountToken.expirationSeconds ?? 3600;
        const { token, expiresAt } = await api.token(
          pod,
          pod.spec?.serviceAccountName ?? "default",
          src.serviceAccountToken.audience,
          expiration,
        );
        writeFile(dir, src.serviceAccountToken.path, token, mode);
        // Refresh at 80 % of the lifetime, as the kubelet does.
        const lifetime = expiresAt.getTime() - now().getTime();
        const at = new Date(now().getTime() + lifetime * 0.8);
        if (!refreshAt || at < refreshAt) refreshAt = at;
      } else if (src.configMap) {
        const cm = await api.configMap(ns, src.configMap.name!);
        if (!cm && !src.configMap.optional)
          throw new ContainerConfigError(`configmap "${src.configMap.name}" not found`);
        writeKeys(
          dir,
          { ...cm?.data },
          src.configMap.items,
          mode,
          `configmap ${src.configMap.name}`,
          !!src.configMap.optional,
        );
      } else if (src.secret) {
        const s = await api.secret(ns, src.secret.name!);
        if (!s && !src.secret.optional)
          throw new ContainerConfigError(`secret "${src.secret.name}" not found`);
        writeKeys(
          dir,
          s ? secretData(s) : {},
          src.secret.items,
          mode,
          `secret ${src.secret.name}`,
          !!src.secret.optional,
        );
      } else if (src.downwardAPI) {
        writeDownward(dir, pod, src.downwardAPI.items, mode, facts);
      }
    }
    return { hostPath: dir, ...(refreshAt ? { refreshAt } : {}) };
  }
  throw new ContainerConfigError(
    `volume ${volume.name}: this node supports emptyDir, configMap, secret, downwardAPI, projected and hostPath`,
  );
}
