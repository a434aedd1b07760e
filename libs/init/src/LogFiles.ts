/**
 * Service output on the data partition: one file per service, rotated when it would pass
 * `maxBytes` (`name.log` becomes `name.log.1`, and so on up to `keep`; the oldest is deleted), so
 * logs never fill the disk. Lines are buffered (bounded: past `bufferLines` the oldest are dropped
 * and the drop is written down) and flushed every `flushMillis` and when init stops.
 */
import { Effect, FileSystem, Path, Schema } from "effect"
import { RotatingFile } from "@keelos/store"

export const LogFilesConfig = Schema.Struct({
  dir: Schema.String,
  maxBytes: Schema.Int.check(Schema.isGreaterThanOrEqualTo(1024)),
  keep: Schema.Int.check(Schema.isBetween({ minimum: 1, maximum: 20 })),
  flushMillis: Schema.Int.check(Schema.isGreaterThanOrEqualTo(10)),
  bufferLines: Schema.Int.check(Schema.isGreaterThanOrEqualTo(1))
})
export type LogFilesConfig = typeof LogFilesConfig.Type

export interface Line {
  readonly atMillis: number
  readonly stream: "stdout" | "stderr"
  readonly line: string
}

interface Pending {
  lines: Array<string>
  dropped: number
}

export interface LogFiles {
  readonly append: (service: string, line: Line) => Effect.Effect<void>
  readonly flush: Effect.Effect<void>
}

const format = (line: Line) => `${new Date(line.atMillis).toISOString()} ${line.stream} ${line.line}\n`

export const make = Effect.fn("LogFiles.make")(function*(config: LogFilesConfig) {
  const fs = yield* FileSystem.FileSystem
  const path = yield* Path.Path
  const pending = new Map<string, Pending>()
  yield* Effect.ignore(fs.makeDirectory(config.dir, { recursive: true }))

  const files = new Map<string, RotatingFile.RotatingFile>()
  const fileOf = (service: string) =>
    Effect.gen(function*() {
      const existing = files.get(service)
      if (existing !== undefined) return existing
      const file = yield* RotatingFile.make(path.join(config.dir, `${service}.log`), { maxBytes: config.maxBytes, keep: config.keep }).pipe(
        Effect.provideService(FileSystem.FileSystem, fs)
      )
      files.set(service, file)
      return file
    })

  const flushOne = (service: string, state: Pending) =>
    Effect.gen(function*() {
      if (state.lines.length === 0 && state.dropped === 0) return
      const header = state.dropped > 0 ? `[${state.dropped} lines dropped: output faster than the log files take it]\n` : ""
      const text = header + state.lines.join("")
      state.lines = []
      state.dropped = 0
      yield* Effect.ignore(Effect.flatMap(fileOf(service), (file) => file.append(text)))
    })

  const flush = Effect.suspend(() => Effect.forEach([...pending], ([service, state]) => flushOne(service, state), { discard: true }))

  yield* Effect.forkScoped(Effect.forever(Effect.andThen(Effect.sleep(config.flushMillis), flush)))
  yield* Effect.addFinalizer(() => flush)

  const logFiles: LogFiles = {
    append: (service, line) =>
      Effect.sync(() => {
        let state = pending.get(service)
        if (state === undefined) {
          state = { lines: [], dropped: 0 }
          pending.set(service, state)
        }
        state.lines.push(format(line))
        if (state.lines.length > config.bufferLines) {
          state.lines.shift()
          state.dropped++
        }
      }),
    flush
  }
  return logFiles
})
