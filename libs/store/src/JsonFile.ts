/**
 * A Schema-typed JSON document on the data partition, replaced atomically. A missing file is the
 * initial value; a file that does not decode is a typed `Corrupt` error, never a silent reset.
 * Writers are serialized.
 */
import { Effect, FileSystem, Path, Schema, Semaphore } from "effect"
import * as AtomicFile from "./AtomicFile.ts"
import { StoreError } from "./StoreError.ts"

const utf8 = new TextDecoder("utf-8", { fatal: true })

const sameBytes = (a: Uint8Array, b: Uint8Array) => {
  if (a.length !== b.length) return false
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false
  return true
}

export interface JsonFile<A> {
  readonly path: string
  readonly get: Effect.Effect<A, StoreError>
  readonly set: (value: A) => Effect.Effect<void, StoreError>
  readonly update: (f: (current: A) => A) => Effect.Effect<A, StoreError>
}

export const make = Effect.fn("JsonFile.make")(function*<S extends Schema.Codec<unknown, unknown>>(
  schema: S,
  file: string,
  initial: S["Type"]
) {
  const fs = yield* FileSystem.FileSystem
  const path = yield* Path.Path
  const codec = Schema.fromJsonString(Schema.toCodecJson(schema as unknown as Schema.Codec<S["Type"], unknown>))
  const lock = yield* Semaphore.make(1)
  const provide = <A, E>(effect: Effect.Effect<A, E, FileSystem.FileSystem | Path.Path>) =>
    effect.pipe(Effect.provideService(FileSystem.FileSystem, fs), Effect.provideService(Path.Path, path))

  const decode = Schema.decodeEffect(codec)
  const encode = Schema.encodeEffect(codec)
  /** The last content read and what it decoded to: the same bytes decode to the same value, without the schema's cost. */
  let last: { readonly bytes: Uint8Array; readonly value: S["Type"] } | undefined

  const get: Effect.Effect<S["Type"], StoreError> = provide(Effect.gen(function*() {
    const bytes = yield* AtomicFile.read(file)
    if (bytes === undefined) return initial
    if (last !== undefined && sameBytes(last.bytes, bytes)) return last.value
    const text = yield* Effect.try({
      try: () => utf8.decode(bytes),
      catch: () => new StoreError({ operation: "decode", path: file, reason: "Corrupt", detail: "not UTF-8" })
    })
    const value = yield* decode(text).pipe(
      Effect.mapError((issue) => new StoreError({ operation: "decode", path: file, reason: "Corrupt", detail: String(issue) }))
    )
    last = { bytes, value }
    return value
  }))

  const write = (value: S["Type"]) =>
    provide(Effect.gen(function*() {
      const text = yield* encode(value).pipe(
        Effect.mapError((issue) => new StoreError({ operation: "encode", path: file, reason: "Invalid", detail: String(issue) }))
      )
      yield* fs.makeDirectory(path.dirname(file), { recursive: true }).pipe(
        Effect.mapError((error) => new StoreError({ operation: "write", path: file, reason: "Io", detail: error.message }))
      )
      yield* AtomicFile.write(file, new TextEncoder().encode(text + "\n"))
    }))

  const jsonFile: JsonFile<S["Type"]> = {
    path: file,
    get,
    set: (value) => lock.withPermits(1)(write(value)),
    update: (f) =>
      lock.withPermits(1)(Effect.gen(function*() {
        const next = f(yield* get)
        yield* write(next)
        return next
      }))
  }
  return jsonFile
})
