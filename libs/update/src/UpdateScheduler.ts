/**
 * Updates scheduled into maintenance windows: `update/schedule.json` holds them (bounded), so they
 * survive reboots. A fiber wakes when a window opens and installs through the engine with the
 * window's end as its deadline: an install not activated by then is abandoned (its download
 * resumes in the next opening). A schedule runs once: it ends done (activated; the health gate
 * decides the rest) or failed (a gate refused it, for example), with the reason kept.
 */
import { Clock, Context, Duration, Effect, Layer, Random, Result, Schema, Stream } from "effect"
import type { FileSystem, Path } from "effect"
import { UpdateState } from "@keelos/domain"
import { JsonFile } from "@keelos/store"
import * as Source from "./Source.ts"
import * as UpdateError from "./UpdateError.ts"
import { UpdateEngine } from "./UpdateEngine.ts"
import * as Window from "./Window.ts"

export const ScheduleState = Schema.Literals(["pending", "running", "done", "failed", "cancelled"])
export type ScheduleState = typeof ScheduleState.Type

export class ScheduledUpdate extends Schema.Class<ScheduledUpdate>("ScheduledUpdate")({
  id: Schema.String,
  source: Schema.String,
  sha256: Schema.NullOr(Schema.String),
  window: Schema.String,
  healthTimeoutMillis: Schema.NullOr(Schema.Int),
  /** Recorded as asked; a failed health gate always rolls back on KeelOS. */
  autoRollback: Schema.Boolean,
  createdBy: Schema.String,
  createdAtMillis: UpdateState.EpochMillis,
  state: ScheduleState,
  /** The next opening it waits for (pending), or the one it runs in. */
  nextStartMillis: Schema.NullOr(Schema.Number),
  lastMessage: Schema.NullOr(Schema.String)
}) {}

const Document = Schema.Struct({ schedules: Schema.Array(ScheduledUpdate) })

/** Schedules kept; finished ones are dropped first. */
export const scheduleLimit = 16

/** How often the loop looks again while it waits for a window (it also wakes at the opening). */
const recheckMillis = 30_000

/** The pause before a schedule tries again in the same window after a transient failure. */
const retryMillis = 60_000

export interface Request {
  readonly source: string
  readonly sha256?: string | undefined
  readonly window: string
  readonly healthTimeoutMillis?: number | undefined
  readonly autoRollback: boolean
  readonly actor: string
}

const stateError = (error: { readonly message: string }) => UpdateError.make("state", "Io", error.message)

const active = (s: ScheduledUpdate) => s.state === "pending" || s.state === "running"

export class UpdateScheduler extends Context.Service<UpdateScheduler, {
  readonly list: Effect.Effect<ReadonlyArray<ScheduledUpdate>, UpdateError.UpdateError>
  readonly add: (request: Request) => Effect.Effect<ScheduledUpdate, UpdateError.UpdateError>
  readonly cancel: (id: string, actor: string) => Effect.Effect<ScheduledUpdate, UpdateError.UpdateError>
  /** The loop that runs schedules in their windows; never returns. */
  readonly run: Effect.Effect<never>
}>()("@keelos/update/UpdateScheduler") {
  static readonly make = (file: string) =>
    Effect.gen(function*() {
      const engine = yield* UpdateEngine
      const store = yield* JsonFile.make(Document, file, { schedules: [] })
      const list = Effect.map(Effect.mapError(store.get, stateError), (d) => d.schedules)
      const change = (f: (schedules: ReadonlyArray<ScheduledUpdate>) => ReadonlyArray<ScheduledUpdate>) =>
        Effect.mapError(store.update((d) => ({ schedules: f(d.schedules) })), stateError)
      const patch = (id: string, fields: Partial<ScheduledUpdate>) =>
        change((all) => all.map((s) => (s.id === id ? new ScheduledUpdate({ ...s, ...fields }) : s)))

      const add = (request: Request) =>
        Effect.gen(function*() {
          const window = yield* Effect.mapError(Effect.fromResult(Window.parse(request.window)), (reason) => UpdateError.make("check", "BadRequest", reason))
          yield* Source.parse({ source: request.source, sha256: request.sha256 })
          const now = yield* Clock.currentTimeMillis
          const id = (yield* Random.nextIntBetween(0, 0xffffffff)).toString(16).padStart(8, "0")
          const scheduled = new ScheduledUpdate({
            id,
            source: request.source,
            sha256: request.sha256 ?? null,
            window: window.text,
            healthTimeoutMillis: request.healthTimeoutMillis ?? null,
            autoRollback: request.autoRollback,
            createdBy: request.actor,
            createdAtMillis: now,
            state: "pending",
            nextStartMillis: Window.next(window, now).startMillis,
            lastMessage: null
          })
          yield* change((all) => {
            if (all.filter(active).length >= scheduleLimit) return all
            const kept = [...all, scheduled]
            // Drop the oldest finished schedules beyond the bound.
            while (kept.length > scheduleLimit) kept.splice(kept.findIndex((s) => !active(s)), 1)
            return kept
          })
          if (!(yield* list).some((s) => s.id === id)) {
            return yield* UpdateError.make("check", "Refused", `${scheduleLimit} schedules are pending already; cancel one first`)
          }
          return scheduled
        })

      const cancel = (id: string, actor: string) =>
        Effect.gen(function*() {
          const found = (yield* list).find((s) => s.id === id)
          if (found === undefined) return yield* UpdateError.make("check", "BadRequest", `no schedule ${id}; osctl schedule list shows them`)
          if (!active(found)) return yield* UpdateError.make("check", "InvalidState", `schedule ${id} is already ${found.state}`)
          if (found.state === "running") return yield* UpdateError.make("check", "InvalidState", `schedule ${id} is running now; it ends with its window`)
          yield* patch(id, { state: "cancelled", lastMessage: `cancelled by ${actor}` })
          return new ScheduledUpdate({ ...found, state: "cancelled", lastMessage: `cancelled by ${actor}` })
        })

      /** Runs one schedule in the opening it is in. */
      const runOne = (schedule: ScheduledUpdate, opening: Window.Opening) =>
        Effect.gen(function*() {
          yield* patch(schedule.id, { state: "running", nextStartMillis: opening.startMillis, lastMessage: null })
          const outcome = yield* engine.install({
            source: schedule.source,
            sha256: schedule.sha256 ?? undefined,
            force: false,
            reboot: true,
            actor: `schedule ${schedule.id} (by ${schedule.createdBy})`,
            healthTimeoutMillis: schedule.healthTimeoutMillis ?? undefined,
            deadlineMillis: opening.endMillis
          }).pipe(Stream.runLast, Effect.result)
          if (Result.isSuccess(outcome)) {
            const version = outcome.success._tag === "Some" ? outcome.success.value.version : null
            yield* patch(schedule.id, { state: "done", lastMessage: `activated ${version ?? "the image"}; the node reboots into it` })
            return 0
          }
          const error = outcome.failure
          const now = yield* Clock.currentTimeMillis
          if (error.reason === "WindowClosed") {
            const window = Result.getOrThrow(Window.parse(schedule.window))
            yield* patch(schedule.id, { state: "pending", nextStartMillis: Window.next(window, Math.max(now, opening.endMillis)).startMillis, lastMessage: `${error.message}` })
            return 0
          }
          // Transient (the server, another install, a trial still being verified): again in this
          // window after a pause, so a failing server is not hammered.
          if (error.reason === "Transfer" || error.reason === "Busy" || error.reason === "InvalidState") {
            yield* patch(schedule.id, { state: "pending", nextStartMillis: now + retryMillis, lastMessage: `${error.message}; trying again in ${retryMillis / 1000} s while the window is open` })
            return retryMillis
          }
          yield* patch(schedule.id, { state: "failed", lastMessage: error.message })
          return 0
        })

      /** After a restart: a schedule left running was cut short (a crash or its own reboot). */
      const recover = Effect.gen(function*() {
        const state = yield* engine.state
        const resumed = state.phase === "activated" || state.phase === "verifying" || state.phase === "success"
        yield* change((all) =>
          all.map((s) =>
            s.state === "running"
              ? new ScheduledUpdate({ ...s, state: resumed ? "done" : "pending", lastMessage: resumed ? `activated ${state.toVersion ?? "the image"}` : "interrupted by a restart; trying again in its window" })
              : s
          )
        )
      })

      const tick = Effect.gen(function*() {
        const now = yield* Clock.currentTimeMillis
        const pending = (yield* list).filter((s) => s.state === "pending")
        let wait = recheckMillis
        for (const schedule of pending) {
          const window = Window.parse(schedule.window)
          if (Result.isFailure(window)) {
            yield* patch(schedule.id, { state: "failed", lastMessage: window.failure })
            continue
          }
          const opening = Window.next(window.success, now)
          if (opening.startMillis <= now && (schedule.nextStartMillis === null || schedule.nextStartMillis <= now)) {
            return yield* runOne(schedule, opening)
          }
          if (opening.startMillis <= now) {
            wait = Math.min(wait, schedule.nextStartMillis! - now)
            continue
          }
          wait = Math.min(wait, opening.startMillis - now)
        }
        return wait
      })

      const run: Effect.Effect<never> = Effect.gen(function*() {
        yield* Effect.ignore(recover)
        while (true) {
          const wait = yield* tick.pipe(
            Effect.catch((error) => Effect.as(Effect.logError(`update scheduler: ${error.message}`), recheckMillis))
          )
          if (wait > 0) yield* Effect.sleep(Duration.millis(wait))
        }
      })

      return UpdateScheduler.of({ list, add, cancel, run })
    })

  static readonly layer = (file: string): Layer.Layer<UpdateScheduler, never, UpdateEngine | FileSystem.FileSystem | Path.Path> =>
    Layer.effect(UpdateScheduler, UpdateScheduler.make(file))
}
