/**
 * Service output on the data partition: one file per service, rotated when it would pass
 * `maxBytes` (`name.log` becomes `name.log.1`, and so on up to `keep`; the oldest is deleted), so
 * logs never fill the disk. Lines are buffered (bounded: past `bufferLines` the oldest are dropped
 * and the drop is written down) and flushed every `flushMillis` and when init stops.
 */
import { Effect, FileSystem, Path, Schema } from "effect"

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
  size: number | undefined
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

  const rotate = (file: string) =>
    Effect.gen(function*() {
      yield* Effect.ignore(fs.remove(`${file}.${config.keep}`, { force: true }))
      for (let i = config.keep - 1; i >= 1; i--) {
        if (yield* Effect.orElseSucceed(fs.exists(`${file}.${i}`), () => false)) yield* Effect.ignore(fs.rename(`${file}.${i}`, `${file}.${i + 1}`))
      }
      yield* Effect.ignore(fs.rename(file, `${file}.1`))
    })

  const flushOne = (service: string, state: Pending) =>
    Effect.gen(function*() {
      if (state.lines.length === 0 && state.dropped === 0) return
      const header = state.dropped > 0 ? `[${state.dropped} lines dropped: output faster than the log files take it]\n` : ""
      const text = new TextEncoder().encode(header + state.lines.join(""))
      state.lines = []
      state.dropped = 0
      const file = path.join(config.dir, `${service}.log`)
      if (state.size === undefined) {
        state.size = yield* fs.stat(file).pipe(Effect.map((info) => Number(info.size)), Effect.orElseSucceed(() => 0))
      }
      if (state.size + text.length > config.maxBytes && state.size > 0) {
        yield* rotate(file)
        state.size = 0
      }
      yield* Effect.scoped(Effect.flatMap(fs.open(file, { flag: "a" }), (handle) => handle.writeAll(text))).pipe(Effect.ignore)
      state.size += text.length
    })

  const flush = Effect.suspend(() => Effect.forEach([...pending], ([service, state]) => flushOne(service, state), { discard: true }))

  yield* Effect.forkScoped(Effect.forever(Effect.andThen(Effect.sleep(config.flushMillis), flush)))
  yield* Effect.addFinalizer(() => flush)

  const logFiles: LogFiles = {
    append: (service, line) =>
      Effect.sync(() => {
        let state = pending.get(service)
        if (state === undefined) {
          state = { lines: [], dropped: 0, size: undefined }
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
