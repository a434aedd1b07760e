/**
 * osctl's configuration: named contexts, each with the nodes to talk to and the credentials to
 * use (cluster CA, client certificate and key, PEM inline so a context is one self-contained
 * entry). `--osconfig`, then $OSCTLCONFIG, then ~/.keelos/osctl.json. Written 0600: it holds a key.
 */
import { Effect, FileSystem, Path, Schema } from "effect"

export const Context = Schema.Struct({
  nodes: Schema.Array(Schema.String),
  ca: Schema.String,
  cert: Schema.String,
  key: Schema.String
})
export type Context = typeof Context.Type

export const OsctlConfig = Schema.Struct({
  currentContext: Schema.NullOr(Schema.String),
  contexts: Schema.Record(Schema.String, Context)
})
export type OsctlConfig = typeof OsctlConfig.Type

export const empty: OsctlConfig = { currentContext: null, contexts: {} }

export class ConfigError extends Schema.TaggedError<ConfigError>()("ConfigError", {
  path: Schema.String,
  reason: Schema.String
}) {
  override get message(): string {
    return `osctl config ${this.path}: ${this.reason}`
  }
}

export const defaultPath = (flag: string | undefined, env: Record<string, string | undefined>): string =>
  flag ?? env["OSCTLCONFIG"] ?? `${env["HOME"] ?? "."}/.keelos/osctl.json`

const decode = Schema.decodeUnknownEffect(Schema.fromJsonString(OsctlConfig))
const encode = Schema.encodeSync(Schema.fromJsonString(OsctlConfig))

/** The configuration at `file`; an absent file is an empty configuration. */
export const load = (file: string) =>
  Effect.gen(function*() {
    const fs = yield* FileSystem.FileSystem
    if (!(yield* Effect.orElseSucceed(fs.exists(file), () => false))) return empty
    const text = yield* Effect.mapError(fs.readFileString(file), (e) => new ConfigError({ path: file, reason: e.message }))
    return yield* Effect.mapError(decode(text), (issue) => new ConfigError({ path: file, reason: `not a valid osctl config: ${String(issue).split("\n")[0]}` }))
  })

export const save = (file: string, config: OsctlConfig) =>
  Effect.gen(function*() {
    const fs = yield* FileSystem.FileSystem
    const path = yield* Path.Path
    const failed = (e: { readonly message: string }) => new ConfigError({ path: file, reason: e.message })
    yield* Effect.mapError(fs.makeDirectory(path.dirname(file), { recursive: true, mode: 0o700 }), failed)
    const temporary = `${file}.tmp`
    yield* Effect.mapError(fs.writeFileString(temporary, `${JSON.stringify(JSON.parse(encode(config)), null, 2)}\n`, { mode: 0o600 }), failed)
    yield* Effect.mapError(fs.chmod(temporary, 0o600), failed)
    yield* Effect.mapError(fs.rename(temporary, file), failed)
  })

/** The context to use: the named one, else the current one. */
export const select = (config: OsctlConfig, file: string, name: string | undefined) => {
  const chosen = name ?? config.currentContext
  if (chosen === null || chosen === undefined) {
    return Effect.fail(new ConfigError({ path: file, reason: "no context selected: add one with `osctl config add NAME --nodes … --ca … --cert … --key …`" }))
  }
  const context = config.contexts[chosen]
  return context === undefined
    ? Effect.fail(new ConfigError({ path: file, reason: `no context named ${chosen} (have: ${Object.keys(config.contexts).join(", ") || "none"})` }))
    : Effect.succeed({ name: chosen, context })
}
