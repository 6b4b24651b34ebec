/**
 * Typed conditions as Kubernetes API conventions define them. lastTransitionTime moves
 * only when status changes, so re-marking an unchanged condition yields an equal object
 * and the reconciler's "write status only when changed" comparison holds.
 */
export type ConditionStatus = "True" | "False" | "Unknown";

export interface Condition {
  type: string;
  status: ConditionStatus;
  reason?: string;
  message?: string;
  observedGeneration?: number;
  lastTransitionTime?: string;
}

export interface ConditionChange {
  type: string;
  from: ConditionStatus | undefined;
  to: ConditionStatus;
  reason: string;
  message: string;
}

export class ConditionSet {
  private readonly byType = new Map<string, Condition>();
  readonly changes: ConditionChange[] = [];

  private readonly generation: number | undefined;
  private readonly now: () => Date;

  constructor(existing: readonly Condition[] | undefined, generation: number | undefined, now: () => Date) {
    this.generation = generation;
    this.now = now;
    for (const c of existing ?? []) this.byType.set(c.type, { ...c });
  }

  mark(type: string, status: ConditionStatus, reason: string, message = ""): void {
    const old = this.byType.get(type);
    const sameStatus = old?.status === status;
    const next: Condition = {
      type,
      status,
      reason,
      message,
      ...(this.generation !== undefined ? { observedGeneration: this.generation } : {}),
      lastTransitionTime:
        sameStatus && old?.lastTransitionTime ? old.lastTransitionTime : this.now().toISOString(),
    };
    if (!sameStatus || old?.reason !== reason || old?.message !== message) {
      this.changes.push({ type, from: old?.status, to: status, reason, message });
    }
    this.byType.set(type, next);
  }

  markTrue(type: string, reason: string, message = ""): void {
    this.mark(type, "True", reason, message);
  }

  markFalse(type: string, reason: string, message = ""): void {
    this.mark(type, "False", reason, message);
  }

  markUnknown(type: string, reason: string, message = ""): void {
    this.mark(type, "Unknown", reason, message);
  }

  get(type: string): Condition | undefined {
    return this.byType.get(type);
  }

  isTrue(type: string): boolean {
    return this.byType.get(type)?.status === "True";
  }

  /**
   * Sets `happy` from its dependents: True when all are True; otherwise the first
   * False (or else Unknown) dependent's status, reason and message.
   */
  summarize(happy: string, dependents: readonly string[], readyReason = "Ready"): void {
    const notTrue = dependents.map((t) => this.byType.get(t)).filter((c) => c?.status !== "True");
    if (notTrue.length === 0) {
      this.markTrue(happy, readyReason);
      return;
    }
    const worst = notTrue.find((c) => c?.status === "False") ?? notTrue[0];
    this.mark(happy, worst?.status ?? "Unknown", worst?.reason ?? "Unknown", worst?.message ?? "");
  }

  /** Conditions in a stable order: the given order first, the rest by type. */
  list(order: readonly string[]): Condition[] {
    const rank = (t: string): number => {
      const i = order.indexOf(t);
      return i === -1 ? order.length : i;
    };
    return [...this.byType.values()].sort(
      (a, b) => rank(a.type) - rank(b.type) || a.type.localeCompare(b.type),
    );
  }
}
