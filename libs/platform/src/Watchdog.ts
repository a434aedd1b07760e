/**
 * The hardware (or softdog) watchdog: once opened it must be petted within its timeout or the
 * machine resets. Closing it in order (the magic close) disarms it; losing the process does not.
 */
import { Context, Effect, Schema } from "effect"
import type { Scope } from "effect"

export class WatchdogError extends Schema.TaggedError<WatchdogError>()("WatchdogError", {
  operation: Schema.Literals(["open", "pet"]),
  reason: Schema.Literals(["NotFound", "Busy", "Io"]),
  detail: Schema.String
}) {
  override get message(): string {
    return `watchdog ${this.operation}: ${this.reason}: ${this.detail}`
  }
}

export interface Armed {
  readonly pet: Effect.Effect<void, WatchdogError>
}

export class Watchdog extends Context.Service<Watchdog, {
  /** Arms the watchdog; closing the scope disarms it (magic close). */
  readonly arm: Effect.Effect<Armed, WatchdogError, Scope.Scope>
}>()("@keelos/platform/Watchdog") {}
