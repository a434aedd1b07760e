/**
 * The engine's memory on the data partition (DESIGN §4): `update/state.json` (phase, slots, the
 * download to resume, rolled-back versions), replaced atomically, and `update/history.json`, the
 * bounded journal of installs and rollbacks. A store error is an `UpdateError` of operation
 * `state`: the engine never carries on with state it could not persist.
 */
import { Clock, Effect } from "effect"
import { UpdateState } from "@keelos/domain"
import { JsonFile, Journal } from "@keelos/store"
import * as UpdateError from "./UpdateError.ts"

export interface Paths {
  readonly state: string
  readonly history: string
}

export const defaultPaths: Paths = { state: "/var/lib/keel/update/state.json", history: "/var/lib/keel/update/history.json" }

const stateError = (error: { readonly message: string }) => UpdateError.make("state", "Io", error.message)

export const make = Effect.fn("UpdateStore.make")(function*(paths: Paths) {
  const state = yield* JsonFile.make(UpdateState.UpdateState, paths.state, UpdateState.initial(0))
  const journal = yield* Journal.make(UpdateState.HistoryEntry, paths.history, UpdateState.historyLimit)

  const get = Effect.mapError(state.get, stateError)

  /** Applies `change` and stamps `updatedAtMillis`. */
  const update = (change: (current: UpdateState.UpdateState) => Omit<UpdateState.UpdateState, "updatedAtMillis">) =>
    Effect.flatMap(Clock.currentTimeMillis, (now) =>
      Effect.mapError(state.update((current) => new UpdateState.UpdateState({ ...change(current), updatedAtMillis: now })), stateError))

  const record = (entry: Omit<UpdateState.HistoryEntry, "atMillis">) =>
    Effect.flatMap(Clock.currentTimeMillis, (atMillis) =>
      Effect.mapError(journal.append(new UpdateState.HistoryEntry({ ...entry, atMillis })), stateError))

  return { get, update, record, history: Effect.mapError(journal.entries, stateError) }
})

export type UpdateStore = Effect.Success<ReturnType<typeof make>>
