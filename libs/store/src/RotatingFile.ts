/**
 * An append-only text file that never grows past `maxBytes`: when an append would pass it,
 * `name` becomes `name.1` (and so on up to `keep`, the oldest deleted) and a new `name` starts.
 * Service logs and the agent's audit log use it, so neither can fill the data partition. Appends
 * are not synced: a power cut may lose the last lines, never what was rotated away before.
 */
import { Effect, FileSystem, Semaphore } from "effect"
import { StoreError } from "./StoreError.ts"

export interface RotatingFile {
  readonly append: (text: string) => Effect.Effect<void, StoreError>
  /** The current file's text and then nothing older; what a reader loads at start. */
  readonly readCurrent: Effect.Effect<string, StoreError>
}

export const make = Effect.fn("RotatingFile.make")(function*(file: string, options: { readonly maxBytes: number; readonly keep: number }) {
  const fs = yield* FileSystem.FileSystem
  const failed = (operation: "read" | "write") => (error: { readonly message: string }) =>
    new StoreError({ operation, path: file, reason: "Io", detail: error.message })
  let size: number | undefined

  const rotate = Effect.gen(function*() {
    yield* Effect.ignore(fs.remove(`${file}.${options.keep}`, { force: true }))
    for (let i = options.keep - 1; i >= 1; i--) {
      if (yield* Effect.orElseSucceed(fs.exists(`${file}.${i}`), () => false)) yield* Effect.ignore(fs.rename(`${file}.${i}`, `${file}.${i + 1}`))
    }
    yield* fs.rename(file, `${file}.1`).pipe(Effect.mapError(failed("write")))
  })

  const lock = yield* Semaphore.make(1)

  const append = (text: string) =>
    lock.withPermits(1)(Effect.gen(function*() {
      const bytes = new TextEncoder().encode(text)
      if (size === undefined) {
        size = yield* fs.stat(file).pipe(Effect.map((info) => Number(info.size)), Effect.orElseSucceed(() => 0))
      }
      if (size > 0 && size + bytes.length > options.maxBytes) {
        yield* rotate
        size = 0
      }
      yield* Effect.scoped(Effect.flatMap(fs.open(file, { flag: "a" }), (handle) => handle.writeAll(bytes))).pipe(
        Effect.mapError(failed("write"))
      )
      size += bytes.length
    }))

  const readCurrent = fs.readFileString(file).pipe(
    Effect.catchTag("PlatformError", (error) => error.reason._tag === "NotFound" ? Effect.succeed("") : Effect.fail(failed("read")(error)))
  )
  const rotating: RotatingFile = { append, readCurrent }
  return rotating
})
