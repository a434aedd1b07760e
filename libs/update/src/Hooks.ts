/**
 * Pre- and post-update hooks: HTTP webhooks (a JSON event POSTed, 2xx required within the timeout)
 * and executables in a hooks directory (run directly, no shell, with the event name as argument and
 * the JSON event in KEEL_UPDATE_EVENT; exit 0 required within the timeout). A failing pre-update
 * hook aborts the update before a byte is downloaded; a failing post-update hook is reported and
 * recorded, but the update's outcome stands.
 */
import { Duration, Effect, FileSystem, Path, Schema, Stream } from "effect"
import { HttpClient, HttpClientRequest } from "effect/http"
import { ChildProcess, ChildProcessSpawner } from "effect/process"

export const HooksConfig = Schema.Struct({
  webhooks: Schema.Array(Schema.Struct({ url: Schema.String, timeoutMillis: Schema.Int.check(Schema.isBetween({ minimum: 100, maximum: 600_000 })) })),
  /** Executables run in name order; a missing directory means none. */
  dir: Schema.String,
  timeoutMillis: Schema.Int.check(Schema.isBetween({ minimum: 100, maximum: 3_600_000 }))
})
export type HooksConfig = typeof HooksConfig.Type

export interface Event {
  readonly event: "pre-update" | "post-update"
  readonly fromVersion: string | null
  readonly toVersion: string | null
  /** post-update: success or rolled_back. */
  readonly outcome: string | null
  readonly source: string | null
  readonly actor: string
  readonly atMillis: number
}

/** Runs every hook for `event`; fails with one line naming the first hook that failed. */
export type Runner = (event: Event) => Effect.Effect<void, string>

/** Output kept from a failing executable, for the message. */
const outputBytes = 512

export const make = (config: HooksConfig) =>
  Effect.gen(function*() {
    const client = yield* HttpClient.HttpClient
    const spawner = yield* ChildProcessSpawner.ChildProcessSpawner
    const fs = yield* FileSystem.FileSystem
    const path = yield* Path.Path

    const webhook = (url: string, timeoutMillis: number, event: Event) =>
      client.execute(HttpClientRequest.post(url).pipe(HttpClientRequest.bodyJsonUnsafe(event))).pipe(
        Effect.mapError((error) => `webhook ${url}: ${error.message}`),
        Effect.flatMap((response) => response.status >= 200 && response.status < 300 ? Effect.void : Effect.fail(`webhook ${url} answered HTTP ${response.status}`)),
        Effect.timeoutOrElse({ duration: Duration.millis(timeoutMillis), orElse: () => Effect.fail(`webhook ${url}: no answer within ${timeoutMillis} ms`) })
      )

    const executable = (file: string, event: Event) =>
      Effect.scoped(Effect.gen(function*() {
        const handle = yield* spawner.spawn(ChildProcess.make(file, [event.event], {
          env: { KEEL_UPDATE_EVENT: JSON.stringify(event), PATH: "/usr/bin:/usr/sbin:/bin" },
          extendEnv: false,
          stdout: "pipe",
          stderr: "pipe"
        }))
        const [output, code] = yield* Effect.all([
          Stream.runFold(Stream.merge(handle.stdout, handle.stderr), () => "", (text, chunk: Uint8Array) => (text + new TextDecoder().decode(chunk)).slice(-outputBytes)),
          handle.exitCode
        ], { concurrency: 2 })
        if (code !== 0) return yield* Effect.fail(`hook ${file} exited with ${code}${output.trim() === "" ? "" : `: ${output.trim().split("\n").at(-1)}`}`)
      })).pipe(
        Effect.mapError((error) => (typeof error === "string" ? error : `hook ${file}: ${error.message}`)),
        Effect.timeoutOrElse({ duration: Duration.millis(config.timeoutMillis), orElse: () => Effect.fail(`hook ${file}: still running after ${config.timeoutMillis} ms; stopped`) })
      )

    const executables = fs.readDirectory(config.dir).pipe(
      Effect.map((names) => names.filter((n) => !n.startsWith(".")).sort().map((n) => path.join(config.dir, n))),
      Effect.orElseSucceed((): ReadonlyArray<string> => [])
    )

    const run: Runner = (event) =>
      Effect.gen(function*() {
        for (const hook of config.webhooks) yield* webhook(hook.url, hook.timeoutMillis, event)
        for (const file of yield* executables) yield* executable(file, event)
      })
    return run
  })
