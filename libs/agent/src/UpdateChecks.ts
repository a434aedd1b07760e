/**
 * The node's health checks as a service, so the update engine's gate and GetHealth run the same
 * list, built fresh each time (which services exist may change).
 */
import { Context, Effect, Layer } from "effect"
import type { HealthGate } from "@keelos/update"

export class UpdateChecks extends Context.Service<UpdateChecks, {
  readonly checks: Effect.Effect<ReadonlyArray<HealthGate.Check>>
}>()("@keelos/agent/UpdateChecks") {
  static readonly layer = (checks: Effect.Effect<ReadonlyArray<HealthGate.Check>>) => Layer.succeed(UpdateChecks)({ checks })
}
