/**
 * Timer (push, async by default): fires SCF's timer event at each scheduled time.
 *
 * Exactly one invocation per scheduled time, whatever restarts or replicas: every fire
 * carries the idempotency key "timer/{trigger uid}/{time}", and the invoke API stores an
 * event for a key at most once while its invocation record lives (24 h by default). So two
 * replicas firing the same time store one event, and a restarted adapter may fire again
 * every time of its catch-up window: those already stored are duplicates, those missed
 * while it was down fire late. The window (startingDeadlineSeconds, default 300 s, like a
 * CronJob's) bounds how late a missed time may still fire; never before the Trigger existed.
 */
import type { Adapter, AdapterContext } from "./adapter.ts";
import { CronSchedule } from "./cron.ts";

export const DEFAULT_STARTING_DEADLINE_SECONDS = 300;
/** Most missed times one start fires (an every-second timer down for 5 min: 300). */
const MAX_CATCH_UP = 1000;

/** SCF's timer event; Time in UTC without milliseconds, e.g. "2026-12-01T04:00:00Z". */
export function timerEvent(trigger: string, at: number, message: string): Record<string, string> {
  return {
    Type: "Timer",
    TriggerName: trigger,
    Time: new Date(at).toISOString().replace(/\.\d{3}Z$/, "Z"),
    Message: message,
  };
}

export function timerAdapter(ctx: AdapterContext): Adapter {
  const spec = ctx.trigger.spec.timer!;
  const schedule = new CronSchedule(spec.cronExpression, spec.timezone ?? "UTC");
  const deadlineMs = (spec.startingDeadlineSeconds ?? DEFAULT_STARTING_DEADLINE_SECONDS) * 1000;
  const mode = ctx.trigger.spec.invocation ?? "Async";
  let stopped = false;
  let sleeper: { timer: NodeJS.Timeout; wake: () => void } | undefined;
  const inFlight = new Set<Promise<void>>();

  const sleep = (ms: number) =>
    new Promise<void>((wake) => {
      sleeper = { timer: setTimeout(wake, ms), wake };
    }).finally(() => {
      sleeper = undefined;
    });

  /** One scheduled time, retried while the platform cannot take it and its deadline holds. */
  async function fire(at: number): Promise<void> {
    const key = `timer/${ctx.trigger.uid}/${new Date(at).toISOString()}`;
    let backoff = 500;
    for (;;) {
      const outcome = await ctx.deliver({
        event: timerEvent(ctx.trigger.name, at, spec.message ?? ""),
        mode,
        idempotencyKey: key,
      });
      if (outcome.kind === "delivered" || outcome.kind === "functionError" || outcome.kind === "rejected") {
        if (outcome.kind === "rejected")
          ctx.log.warn("timer event refused", { time: new Date(at).toISOString(), reason: outcome.message });
        return;
      }
      if (stopped || ctx.now() - at > deadlineMs) {
        ctx.log.error("timer event missed its deadline", {
          time: new Date(at).toISOString(),
          reason: outcome.message,
        });
        return;
      }
      await new Promise((r) => setTimeout(r, backoff));
      backoff = Math.min(backoff * 2, 10_000);
    }
  }

  function launch(at: number): void {
    const p = fire(at).finally(() => inFlight.delete(p));
    inFlight.add(p);
  }

  async function loop(): Promise<void> {
    const now = ctx.now();
    const from = Math.max(ctx.trigger.createdAt.getTime() - 1, now - deadlineMs);
    let last = now;
    for (const at of schedule.between(from, now, MAX_CATCH_UP)) launch(at);
    while (!stopped) {
      const at = schedule.next(last);
      if (at === undefined) {
        ctx.log.info("the schedule has no time left (its year field is past)");
        return;
      }
      // Long waits are cut in pieces: a timer's clock may drift over hours, the wall clock
      // is read again before each fire.
      while (!stopped && ctx.now() < at) await sleep(Math.min(at - ctx.now(), 60_000));
      if (stopped) return;
      launch(at);
      last = at;
    }
  }

  let running: Promise<void> | undefined;
  return {
    async start() {
      ctx.source({
        ready: true,
        reason: "Scheduled",
        message: `${schedule.expression} (${spec.timezone ?? "UTC"})`,
      });
      running = loop();
    },
    async stop() {
      stopped = true;
      if (sleeper) {
        clearTimeout(sleeper.timer);
        sleeper.wake();
      }
      await running;
      await Promise.allSettled([...inFlight]);
    },
  };
}
