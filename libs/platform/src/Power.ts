/**
 * Power control: reboot(2) and poweroff. Both never return on success. Callers stop services,
 * sync and unmount first (keel-init's orderly shutdown); this contract only flips the switch.
 */
import { Context, Effect, Schema } from "effect"

export const PowerAction = Schema.Literals(["reboot", "poweroff", "halt"])
export type PowerAction = typeof PowerAction.Type

export class PowerError extends Schema.TaggedError<PowerError>()("PowerError", {
  operation: PowerAction,
  reason: Schema.Literals(["NotPermitted", "Failed"]),
  detail: Schema.String
}) {
  override get message(): string {
    return `${this.operation}: ${this.reason}: ${this.detail}`
  }
}

export class Power extends Context.Service<Power, {
  readonly sync: Effect.Effect<void>
  readonly switchOff: (action: PowerAction) => Effect.Effect<never, PowerError>
}>()("@keelos/platform/Power") {}
