/**
 * Pod IP allocation from the node's pod CIDR, round robin like CNI's host-local: the next
 * free address after the last one handed out, wrapping at the end. 10.244.0.0/16 with
 * host 10.244.0.1 hands out 10.244.0.2, 10.244.0.3, … A released address is not reused at
 * once: peers may still hold its old MAC in their ARP cache, and new connections to the
 * new pod would go nowhere until that entry expires (seen: 30 s connect timeouts).
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
  private next: number;

  constructor(cidr: string, hostIP: string) {
    const [base, bits] = cidr.split("/") as [string, string];
    this.prefix = Number(bits);
    const size = 2 ** (32 - this.prefix);
    const network = ipToInt(base) - (ipToInt(base) % size);
    this.first = network + 1;
    this.last = network + size - 2; // not the broadcast address
    this.host = ipToInt(hostIP);
    this.next = this.first;
  }

  allocate(owner: string): string {
    const have = this.byOwner.get(owner);
    if (have !== undefined) return intToIp(have);
    const size = this.last - this.first + 1;
    for (let k = 0; k < size; k++) {
      const n = this.first + ((this.next - this.first + k) % size);
      if (n === this.host || this.used.has(n)) continue;
      this.used.add(n);
      this.byOwner.set(owner, n);
      this.next = n + 1 > this.last ? this.first : n + 1;
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
