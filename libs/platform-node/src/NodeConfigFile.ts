/**
 * Reads a Schema-typed JSON configuration file, failing with one line that names the file and the
 * problem (unreadable, not JSON, not the expected shape).
 */
import * as fs from "node:fs"
import { Effect, Schema } from "effect"

export class ConfigFileError extends Schema.TaggedError<ConfigFileError>()("ConfigFileError", {
  path: Schema.String,
  reason: Schema.Literals(["Unreadable", "NotJson", "Invalid"]),
  detail: Schema.String
}) {
  override get message(): string {
    return `${this.path}: ${this.reason}: ${this.detail}`
  }
}

export const load = <S extends Schema.Codec<unknown, unknown>>(schema: S, path: string): Effect.Effect<S["Type"], ConfigFileError> =>
  Effect.gen(function*() {
    const text = yield* Effect.try({
      try: () => fs.readFileSync(path, "utf8"),
      catch: (error) => new ConfigFileError({ path, reason: "Unreadable", detail: (error as Error).message })
    })
    const json = yield* Effect.try({
      try: () => JSON.parse(text) as unknown,
      catch: (error) => new ConfigFileError({ path, reason: "NotJson", detail: (error as Error).message })
    })
    return yield* Schema.decodeUnknownEffect(schema as unknown as Schema.Codec<S["Type"], unknown>)(json).pipe(
      Effect.mapError((issue) => new ConfigFileError({ path, reason: "Invalid", detail: String(issue).replace(/\s*\n\s*/g, "; ") }))
    )
  })
