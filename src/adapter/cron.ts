/**
 * SCF's cron: seven fields (second minute hour day month weekday year), or the six- and
 * five-field forms (five fields start at the minute, second 0). Parsed by croner, which
 * reads the year field itself since version 10 (mode "7-part"), names (MON, JAN), `?`, `L`
 * and `#`, in an IANA time zone. Weekdays count as in standard cron: Sunday 0 (or 7).
 */
import { Cron } from "croner";

export class CronSchedule {
  private readonly cron: Cron;
  readonly expression: string;

  /** Throws with croner's reason when the expression or the time zone is not valid. */
  constructor(expression: string, timezone = "UTC") {
    const fields = expression.trim().split(/\s+/);
    if (fields.length < 5 || fields.length > 7)
      throw new Error(`cron expression "${expression}" has ${fields.length} fields; SCF's has 5, 6 or 7`);
    const mode = fields.length === 7 ? "7-part" : fields.length === 6 ? "6-part" : "5-part";
    this.expression = fields.join(" ");
    this.cron = new Cron(this.expression, { mode, timezone, paused: true });
  }

  /** The first scheduled time strictly after `afterMs`, or undefined when none is left. */
  next(afterMs: number): number | undefined {
    return this.cron.nextRun(new Date(afterMs))?.getTime();
  }

  /**
   * The scheduled times in (fromMs, toMs], at most `limit`, oldest first. E.g. "*\/2 * * *
   * * *" from 10:00:00.5 to 10:00:05 → 10:00:02, 10:00:04.
   */
  between(fromMs: number, toMs: number, limit: number): number[] {
    const out: number[] = [];
    let t = this.next(fromMs);
    while (t !== undefined && t <= toMs && out.length < limit) {
      out.push(t);
      t = this.next(t);
    }
    return out;
  }
}
