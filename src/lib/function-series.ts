/**
 * The label sets a metric was written with, per function, so that every series of a
 * Function that is gone can be removed (prom-client removes a series only by its exact
 * labels). Used by the activators' per-function and async-queue figures.
 */
interface Removable {
  remove(labels: object): void;
}

export class FunctionSeries {
  private readonly written = new Map<string, Map<string, { metric: Removable; labels: object }>>();

  /** Notes that `metric` has a series with `labels` (which name namespace and function). */
  remember(metric: Removable & { name?: string }, labels: Record<string, string>): void {
    const key = `${labels.namespace}/${labels.function}`;
    let sets = this.written.get(key);
    if (!sets) {
      sets = new Map();
      this.written.set(key, sets);
    }
    const id = `${metric.name ?? ""}\u0000${JSON.stringify(labels)}`;
    if (!sets.has(id)) sets.set(id, { metric, labels });
  }

  /** Removes every series of the function. */
  forget(namespace: string, fn: string): void {
    const key = `${namespace}/${fn}`;
    for (const { metric, labels } of this.written.get(key)?.values() ?? []) metric.remove(labels);
    this.written.delete(key);
  }
}
