/**
 * Typed control of the boot environment for userspace: read the slot state, put a slot on trial,
 * mark the trial good, cancel it, or make a slot the last known good one (manual rollback).
 *
 * Every change is one read-modify-write of the whole block through `BootEnvBlock`, which rewrites
 * it in place with a single 1024-byte write and syncs. KeelOS's variables stay well inside the
 * first 512-byte sector, so a write torn at sector granularity leaves either the old or the new
 * state, never a mix (the simulator checks this).
 */
import { Context, Effect, Layer, Schema, Semaphore } from "effect"
import { BootEnv, Slot } from "@keelos/domain"
import { BootEnvBlock } from "@keelos/platform"
import * as BootDecision from "./BootDecision.ts"
import * as EnvBlock from "./EnvBlock.ts"

export class BootStateError extends Schema.TaggedError<BootStateError>()("BootStateError", {
  operation: Schema.Literals(["activate", "markGood", "setActive"]),
  reason: Schema.Literals(["NotOnTrial", "SameSlot"]),
  detail: Schema.String
}) {
  override get message(): string {
    return `${this.operation}: ${this.reason}: ${this.detail}`
  }
}

export type BootControlError = EnvBlock.EnvBlockError | BootEnvBlock.BootEnvBlockError | BootStateError

const V = BootEnv.BootVariable
const isSlot = (value: string | undefined): value is Slot.Slot => value === "A" || value === "B"

/** Reads the variables the way the firmware interprets them (BootDecision). */
export const toBootEnv = (variables: EnvBlock.Variables): BootEnv.BootEnv => {
  const active = EnvBlock.get(variables, V.active)
  const next = EnvBlock.get(variables, V.next)
  const tries = EnvBlock.get(variables, V.tries)
  const booted = EnvBlock.get(variables, V.booted)
  return new BootEnv.BootEnv({
    active: isSlot(active) ? active : BootDecision.defaultActive,
    next: isSlot(next) ? next : null,
    tries: tries === "1" || tries === "2" || tries === "3" ? Number(tries) : 0,
    booted: isSlot(booted) ? booted : null
  })
}

export class BootControl extends Context.Service<BootControl, {
  readonly read: Effect.Effect<BootEnv.BootEnv, BootControlError>
  /** Puts `slot` on trial with `BootEnv.trialBoots` boots; the slot must not be the active one. */
  readonly activate: (slot: Slot.Slot) => Effect.Effect<BootEnv.BootEnv, BootControlError>
  /** Makes the slot on trial the last known good one; only valid during its trial boot. */
  readonly markGood: Effect.Effect<BootEnv.BootEnv, BootControlError>
  /** Ends a trial without promoting it: the next boot is the active slot. */
  readonly cancelTrial: Effect.Effect<BootEnv.BootEnv, BootControlError>
  /** Makes `slot` the last known good slot and clears any trial (manual rollback). */
  readonly setActive: (slot: Slot.Slot) => Effect.Effect<BootEnv.BootEnv, BootControlError>
}>()("@keelos/boot/BootControl") {
  static readonly layer = Layer.effect(
    BootControl,
    Effect.gen(function*() {
      const store = yield* BootEnvBlock.BootEnvBlock
      const lock = yield* Semaphore.make(1)

      const readVariables = Effect.gen(function*() {
        const block = yield* store.read
        const variables = yield* Effect.fromResult(EnvBlock.decode(block))
        return { block, variables }
      })

      const change = (
        plan: (env: BootEnv.BootEnv) => Effect.Effect<ReadonlyArray<readonly [string, string | undefined]>, BootStateError>
      ) =>
        lock.withPermits(1)(Effect.gen(function*() {
          const { block, variables } = yield* readVariables
          const writes = yield* plan(toBootEnv(variables))
          const next = yield* Effect.fromResult(EnvBlock.update(block, writes))
          yield* store.write(next)
          return toBootEnv(yield* Effect.fromResult(EnvBlock.decode(next)))
        }))

      return BootControl.of({
        read: Effect.map(readVariables, ({ variables }) => toBootEnv(variables)),
        activate: (slot) =>
          change((env) =>
            env.active === slot
              ? Effect.fail(new BootStateError({ operation: "activate", reason: "SameSlot", detail: `slot ${slot} is already the active slot` }))
              : Effect.succeed([[V.active, env.active], [V.next, slot], [V.tries, String(BootEnv.trialBoots)]])
          ),
        markGood: change((env) =>
          env.onTrial && env.next !== null
            ? Effect.succeed([[V.active, env.next], [V.next, undefined], [V.tries, undefined]])
            : Effect.fail(new BootStateError({ operation: "markGood", reason: "NotOnTrial", detail: `booted ${env.booted ?? "unknown"}, trial ${env.next ?? "none"}` }))
        ),
        cancelTrial: change(() => Effect.succeed([[V.next, undefined], [V.tries, undefined]])),
        setActive: (slot) => change(() => Effect.succeed([[V.active, slot], [V.next, undefined], [V.tries, undefined]]))
      })
    })
  )
}
