/**
 * The image table of the local node agent (hack/node-images.yaml): an image name maps to
 * a root file system on this machine plus bind mounts, which is what a "pull" gives a pod
 * here. An image not in the table fails the pod as a failed pull would.
 */
import yaml from "js-yaml";

export interface ImageEntry {
  name: string;
  root: string;
  binds: Array<{ hostPath: string; path: string }>;
  env: Array<{ name: string; value: string }>;
  workingDir?: string;
}

export function parseImageTable(text: string, vars: Record<string, string>): ImageEntry[] {
  const expand = (s: string) => s.replace(/\$\{([A-Z0-9_]+)\}/g, (_m, k: string) => vars[k] ?? "");
  const doc = yaml.load(text) as { images?: Array<Partial<ImageEntry>> } | undefined;
  return (doc?.images ?? []).map((e, i) => {
    if (!e.name || !e.root) throw new Error(`image table entry ${i} needs name and root`);
    return {
      name: e.name,
      root: expand(e.root),
      binds: (e.binds ?? []).map((b) => ({ hostPath: expand(b.hostPath), path: b.path })),
      env: (e.env ?? []).map((v) => ({ name: v.name, value: expand(v.value) })),
      ...(e.workingDir ? { workingDir: e.workingDir } : {}),
    };
  });
}

/**
 * The repository part of an image reference, without registry, "library/", tag or digest:
 * "docker.io/library/python:3.12-slim" → "python", "ghcr.io/x/updraft/controller:1" stays
 * "ghcr.io/x/updraft/controller" (only Docker Hub's implicit prefixes are dropped).
 */
export function imageRepository(image: string): string {
  let ref = image.split("@")[0]!;
  const lastSlash = ref.lastIndexOf("/");
  const colon = ref.lastIndexOf(":");
  if (colon > lastSlash) ref = ref.slice(0, colon);
  for (const prefix of ["docker.io/library/", "docker.io/", "index.docker.io/library/", "library/"]) {
    if (ref.startsWith(prefix)) return ref.slice(prefix.length);
  }
  return ref;
}

export function resolveImage(table: readonly ImageEntry[], image: string): ImageEntry | undefined {
  const repo = imageRepository(image);
  return table.find((e) => (e.name.endsWith("*") ? repo.startsWith(e.name.slice(0, -1)) : repo === e.name));
}
