/**
 * The requests waiting for a function's instance, in arrival order, with O(1) push at
 * either end, O(1) take from the front and O(1) removal of any one (a waiter that timed
 * out). An array is O(n) for the last two: 10,000 requests waiting at zero that time out
 * together cost 10,000 × 10,000 / 2 element moves — seconds of a blocked event loop.
 */
interface Node<T> {
  value: T;
  prev: Node<T> | undefined;
  next: Node<T> | undefined;
}

/** A place in the queue, to remove it later. */
export type WaitTicket<T> = Node<T>;

export class WaitQueue<T> {
  private head: Node<T> | undefined;
  private tail: Node<T> | undefined;
  private count = 0;

  get length(): number {
    return this.count;
  }

  push(value: T): WaitTicket<T> {
    const node: Node<T> = { value, prev: this.tail, next: undefined };
    if (this.tail) this.tail.next = node;
    else this.head = node;
    this.tail = node;
    this.count++;
    return node;
  }

  unshift(value: T): WaitTicket<T> {
    const node: Node<T> = { value, prev: undefined, next: this.head };
    if (this.head) this.head.prev = node;
    else this.tail = node;
    this.head = node;
    this.count++;
    return node;
  }

  shift(): T | undefined {
    const node = this.head;
    if (!node) return undefined;
    this.unlink(node);
    return node.value;
  }

  /** Takes a waiter out wherever it is; false when it was already gone. */
  remove(ticket: WaitTicket<T>): boolean {
    if (ticket.prev === undefined && ticket.next === undefined && this.head !== ticket) return false;
    this.unlink(ticket);
    return true;
  }

  /** Empties the queue, oldest first. */
  drain(): T[] {
    const out: T[] = [];
    for (let v = this.shift(); v !== undefined; v = this.shift()) out.push(v);
    return out;
  }

  private unlink(node: Node<T>): void {
    if (node.prev) node.prev.next = node.next;
    else this.head = node.next;
    if (node.next) node.next.prev = node.prev;
    else this.tail = node.prev;
    node.prev = undefined;
    node.next = undefined;
    this.count--;
  }
}
