/**
 * The ready activator replicas as this one sees them (from the activator Service's
 * EndpointSlices), with what the data path asks of them on every request computed once per
 * change, not per request: this replica's place among them (instance subsetting) and which
 * replica owns a function that has a concurrency.max (ownerOf, a hash per replica).
 */
import type { V1EndpointSlice } from "@kubernetes/client-node";
import { ownerOf } from "./capacity.ts";

export interface ReplicaPlace {
  /** Ready replicas, this one included. */
  count: number;
  /** This replica's index among them, sorted by address (-1: not among them). */
  index: number;
}

export class Replicas {
  private readonly self: string;
  private sorted: string[];
  private placeNow: ReplicaPlace;
  /** Function key → owner address, for the current replicas; cleared when they change. */
  private readonly owners = new Map<string, string | undefined>();

  /** `self`: this replica's address ("" outside a cluster: it is then alone and owns all). */
  constructor(self: string) {
    this.self = self;
    this.sorted = self ? [self] : [];
    this.placeNow = { count: Math.max(1, this.sorted.length), index: 0 };
  }

  /** The activator Service's slices changed: the ready addresses, this one always among them. */
  setSlices(slices: readonly V1EndpointSlice[]): void {
    const ips = new Set<string>();
    for (const sl of slices)
      for (const e of sl.endpoints ?? [])
        if (e.conditions?.ready !== false) for (const a of e.addresses) ips.add(a);
    if (this.self) ips.add(this.self);
    const sorted = [...ips].sort();
    if (sorted.length === this.sorted.length && sorted.every((ip, i) => ip === this.sorted[i])) return;
    this.sorted = sorted;
    // A new object: holders of the old one (the table's subsets) see that it changed.
    this.placeNow = { count: sorted.length, index: sorted.indexOf(this.self) };
    this.owners.clear();
  }

  list(): readonly string[] {
    return this.sorted;
  }

  /** The same object until the replicas change. */
  place(): ReplicaPlace {
    return this.placeNow;
  }

  /** The replica that admits `key` (rendezvous hash, see ownerOf); this one when alone. */
  owner(key: string): string | undefined {
    if (!this.self) return undefined;
    let owner = this.owners.get(key);
    if (owner === undefined && !this.owners.has(key)) {
      owner = ownerOf(key, this.sorted) ?? this.self;
      this.owners.set(key, owner);
    }
    return owner;
  }

  /** Whether this replica admits `key` (always, outside a cluster). */
  owns(key: string): boolean {
    return !this.self || this.owner(key) === this.self;
  }
}
