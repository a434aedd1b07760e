/**
 * The periodic channel check: soon after start and then every interval, each time after a random
 * jitter so a fleet does not ask its update server in the same second, the node resolves its configured source through every gate
 * without downloading the image. `check` only records what is available (for `osctl update
 * status`); `install` also schedules it into the configured maintenance window, once, and never
 * while another update is under way. A version that was rolled back is refused by the gates, so it
 * is never installed again automatically. The last result survives restarts in `update/check.json`.
 */
import { Clock, Context, Duration, Effect, Layer, Random, Schema } from "effect"
import type { FileSystem, Path } from "effect"
import { UpdateState } from "@keelos/domain"
import { JsonFile } from "@keelos/store"
import * as Source from "./Source.ts"
import * as UpdateError from "./UpdateError.ts"
import { UpdateEngine } from "./UpdateEngine.ts"
import { UpdateScheduler } from "./UpdateScheduler.ts"
import * as Window from "./Window.ts"

export const WatchConfig = Schema.Struct({
  mode: Schema.Literals(["off", "check", "install"]),
  /** A channel's latest.json or an oci:// reference (a direct image URL names no newer version). */
  source: Schema.String,
  intervalMillis: Schema.Int.check(Schema.isGreaterThanOrEqualTo(60_000)),
  jitterMillis: Schema.Int.check(Schema.isGreaterThanOrEqualTo(0)),
  /** The maintenance window installs go into (install mode). */
  window: Schema.NullOr(Schema.String)
})
export type WatchConfig = typeof WatchConfig.Type

const Document = Schema.Struct({ last: Schema.NullOr(UpdateState.UpdateCheck) })

/** Phases in which an update is already under way: the watch schedules nothing then. */
const underWay: ReadonlySet<UpdateState.UpdatePhase> = new Set(["checking", "downloading", "staged", "activated", "verifying"])

export const actor = "channel-watch"

/** Why a configuration cannot run, or null when it can. */
export const invalid = (config: WatchConfig): string | null => {
  if (config.mode === "off") return null
  const source = Source.parse({ source: config.source, sha256: "0".repeat(64) })
  const parsed = Effect.runSyncExit(source)
  if (parsed._tag === "Failure") return `the watched source ${JSON.stringify(config.source)} is not a source`
  if (parsed.value._tag === "Image") return "the watched source must be a channel's latest.json or an oci:// reference, not an image URL"
  if (config.mode === "install") {
    if (config.window === null) return "install mode needs a maintenance window"
    const window = Window.parse(config.window)
    if (window._tag === "Failure") return window.failure
  }
  return null
}

export class ChannelWatch extends Context.Service<ChannelWatch, {
  /** The last check's result, or null before the first. */
  readonly last: Effect.Effect<UpdateState.UpdateCheck | null, UpdateError.UpdateError>
  /** Checks once now (also what the loop does at each tick). */
  readonly checkNow: Effect.Effect<UpdateState.UpdateCheck, UpdateError.UpdateError>
  /** The loop; never returns (and does nothing when the mode is off). */
  readonly run: Effect.Effect<never>
}>()("@keelos/update/ChannelWatch") {
  static readonly make = (config: WatchConfig, file: string) =>
    Effect.gen(function*() {
      const engine = yield* UpdateEngine
      const scheduler = yield* UpdateScheduler
      const store = yield* JsonFile.make(Document, file, { last: null })
      const stateError = (error: { readonly message: string }) => UpdateError.make("state", "Io", error.message)
      const last = Effect.mapError(Effect.map(store.get, (d) => d.last), stateError)
      const mode = config.mode === "install" ? "install" : "check"

      /** Schedules `version` unless an update is under way or a schedule of the source is pending. */
      const scheduleFor = (version: string) =>
        Effect.gen(function*() {
          const state = yield* engine.state
          if (underWay.has(state.phase)) return { id: null, note: `an update is under way (${state.phase}); not scheduled` }
          const pending = (yield* scheduler.list).find((s) => s.source === config.source && (s.state === "pending" || s.state === "running"))
          if (pending !== undefined) return { id: pending.id, note: `already scheduled as ${pending.id}` }
          const added = yield* scheduler.add({ source: config.source, window: config.window!, autoRollback: true, actor })
          yield* Effect.log(`channel watch: ${version} is available; scheduled ${added.id} in ${added.window}`)
          return { id: added.id, note: `scheduled ${added.id} in ${added.window}` }
        })

      const checkNow = Effect.gen(function*() {
        const atMillis = yield* Clock.currentTimeMillis
        const result = yield* Effect.result(engine.check(config.source))
        let available: string | null = null
        let message: string
        let scheduleId: string | null = null
        if (result._tag === "Success") {
          available = result.success.version
          message = `${available ?? "an image"} is available`
          if (mode === "install" && available !== null) {
            const scheduled = yield* Effect.result(scheduleFor(available))
            if (scheduled._tag === "Success") {
              scheduleId = scheduled.success.id
              message = `${message}; ${scheduled.success.note}`
            } else {
              message = `${message}; scheduling failed: ${scheduled.failure.message}`
            }
          }
        } else {
          message = result.failure.reason === "Refused" ? `nothing to install: ${result.failure.detail}` : `check failed: ${result.failure.message}`
          if (result.failure.reason !== "Refused") yield* Effect.logWarning(`channel watch: ${result.failure.message}`)
        }
        const check = new UpdateState.UpdateCheck({ source: config.source, mode, atMillis, available: available as UpdateState.UpdateCheck["available"], message, scheduleId })
        yield* Effect.mapError(store.update(() => ({ last: check })), stateError)
        return check
      })

      const jitter = config.jitterMillis === 0 ? Effect.succeed(0) : Random.nextIntBetween(0, config.jitterMillis)
      const tick = Effect.catch(checkNow, (error) => Effect.logWarning(`channel watch: ${error.message}`))
      // The first check comes soon after start (within the jitter), then one every interval.
      const run: Effect.Effect<never> = config.mode === "off"
        ? Effect.never
        : Effect.flatMap(jitter, (first) => Effect.andThen(Effect.sleep(Duration.millis(first)), tick)).pipe(
          Effect.andThen(Effect.forever(Effect.flatMap(jitter, (extra) => Effect.andThen(Effect.sleep(Duration.millis(config.intervalMillis + extra)), tick))))
        )

      return ChannelWatch.of({ last, checkNow, run })
    })

  static readonly layer = (config: WatchConfig, file: string): Layer.Layer<ChannelWatch, never, UpdateEngine | UpdateScheduler | FileSystem.FileSystem | Path.Path> =>
    Layer.effect(ChannelWatch, ChannelWatch.make(config, file))
}
