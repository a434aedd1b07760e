/**
 * Replaces a file so that after a power cut it holds either the old or the new content, never a
 * mix and never nothing (DESIGN §3): write a temporary file in the same directory, fsync it,
 * rename it over the target, fsync the directory.
 */
import { Effect, FileSystem, Path } from "effect"
import { StoreError } from "./StoreError.ts"

const ioError = (path: string) => (cause: { readonly message: string }) =>
  new StoreError({ operation: "write", path, reason: "Io", detail: cause.message })

/** The temporary name used while replacing `file`; one writer per file at a time. */
export const temporaryName = (path: Path.Path, file: string) => path.join(path.dirname(file), `.${path.basename(file)}.tmp`)

export const write = Effect.fn("AtomicFile.write")(function*(file: string, bytes: Uint8Array) {
  const fs = yield* FileSystem.FileSystem
  const path = yield* Path.Path
  const dir = path.dirname(file)
  const tmp = temporaryName(path, file)
  yield* Effect.scoped(Effect.gen(function*() {
    const handle = yield* fs.open(tmp, { flag: "w", mode: 0o600 })
    yield* handle.writeAll(bytes)
    yield* handle.sync
  })).pipe(Effect.mapError(ioError(file)))
  yield* fs.rename(tmp, file).pipe(Effect.mapError(ioError(file)))
  yield* Effect.scoped(Effect.flatMap(fs.open(dir, { flag: "r" }), (handle) => handle.sync)).pipe(
    Effect.mapError(ioError(dir))
  )
})

/** Reads a file, or `undefined` when it does not exist. */
export const read = Effect.fn("AtomicFile.read")(function*(file: string) {
  const fs = yield* FileSystem.FileSystem
  return yield* fs.readFile(file).pipe(
    Effect.map((bytes): Uint8Array | undefined => bytes),
    Effect.catchTag("PlatformError", (error) =>
      error.reason._tag === "NotFound"
        ? Effect.succeed(undefined)
        : Effect.fail(new StoreError({ operation: "read", path: file, reason: "Io", detail: error.message })))
  )
})
