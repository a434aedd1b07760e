/**
 * A bounded, append-only journal (update history, audit log): the newest `limit` entries, kept in
 * one JSON document replaced atomically on every append, so an append is either entirely there
 * after a power cut or entirely absent, and what was there before survives.
 */
import { Effect, Schema } from "effect"
import * as JsonFile from "./JsonFile.ts"
import type { StoreError } from "./StoreError.ts"

export interface Journal<A> {
  readonly append: (entry: A) => Effect.Effect<void, StoreError>
  /** Oldest first. */
  readonly entries: Effect.Effect<ReadonlyArray<A>, StoreError>
}

export const make = Effect.fn("Journal.make")(function*<S extends Schema.Codec<unknown, unknown>>(
  entry: S,
  file: string,
  limit: number
) {
  const document = Schema.Struct({ entries: Schema.Array(entry as unknown as Schema.Codec<S["Type"], unknown>) })
  const store = yield* JsonFile.make(document, file, { entries: [] })
  const journal: Journal<S["Type"]> = {
    append: (value) =>
      Effect.asVoid(store.update((current) => ({ entries: [...current.entries, value].slice(-limit) }))),
    entries: Effect.map(store.get, (current) => current.entries)
  }
  return journal
})
