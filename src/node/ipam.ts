/**
 * Pod IP allocation from the node's pod CIDR: the lowest free address after the host's
 * own. 10.244.0.0/16 with host 10.244.0.1 hands out 10.244.0.2, 10.244.0.3, …
 */
export function ipToInt(ip: string): number {
  return ip.split(".").reduce((acc, o) => acc * 256 + Number(o), 0);
}

export function intToIp(n: number): string {
  return [24, 16, 8, 0].map((s) => Math.floor(n / 2 ** s) % 256).join(".");
}

export class Ipam {
  readonly prefix: number;
  private readonly first: number;
  private readonly last: number;
  private readonly host: number;
  private readonly byOwner = new Map<string, number>();
  private readonly used = new Set<number>();

  constructor(cidr: string, hostIP: string) {
    const [base, bits] = cidr.split("/") as [string, string];
    this.prefix = Number(bits);
    const size = 2 ** (32 - this.prefix);
    const network = ipToInt(base) - (ipToInt(base) % size);
    this.first = network + 1;
    this.last = network + size - 2; // not the broadcast address
    this.host = ipToInt(hostIP);
  }

  allocate(owner: string): string {
    const have = this.byOwner.get(owner);
    if (have !== undefined) return intToIp(have);
    for (let n = this.first; n <= this.last; n++) {
      if (n === this.host || this.used.has(n)) continue;
      this.used.add(n);
      this.byOwner.set(owner, n);
      return intToIp(n);
    }
    throw new Error("pod CIDR exhausted");
  }

  release(owner: string): void {
    const n = this.byOwner.get(owner);
    if (n === undefined) return;
    this.used.delete(n);
    this.byOwner.delete(owner);
  }
}
