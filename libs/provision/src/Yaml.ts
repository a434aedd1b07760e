/**
 * YAML documents of a seed, parsed with their line numbers kept for error messages. The YAML library
 * (a quarter of keel-init's code) loads on first use: most boots have no seed to parse.
 */
import { Effect, Schema } from "effect"
import type * as YAML from "yaml"

export class ProvisionError extends Schema.TaggedError<ProvisionError>()("ProvisionError", {
  document: Schema.String,
  line: Schema.NullOr(Schema.Int),
  reason: Schema.String
}) {
  override get message(): string {
    return `${this.document}${this.line === null ? "" : `, line ${this.line}`}: ${this.reason}`
  }
}

let library: typeof YAML | undefined

/** The YAML library, imported the first time it is needed. */
const load: Effect.Effect<typeof YAML> = Effect.suspend(() =>
  library === undefined
    // Bundled, the CommonJS build may arrive as the default export only.
    ? Effect.map(Effect.promise(() => import("yaml")), (module) => (library = "parseDocument" in module ? module : (module as { default: typeof YAML }).default))
    : Effect.succeed(library)
)

/** The data of one YAML document; a syntax error names its line. */
export const parse = (document: string, text: string): Effect.Effect<unknown, ProvisionError> =>
  Effect.flatMap(load, (YAML) => {
    const parsed = YAML.parseDocument(text, { prettyErrors: true, uniqueKeys: true })
    const error = parsed.errors[0]
    if (error !== undefined) {
      return Effect.fail(new ProvisionError({ document, line: error.linePos?.[0]?.line ?? null, reason: error.message.split("\n")[0]!.replace(/ at line \d+, column \d+:?$/, "") }))
    }
    return Effect.succeed(parsed.toJS() as unknown)
  })

/**
 * The line a key path sits on in `text` (the key's own line for a mapping entry), for errors found
 * after `parse` read the document (which loaded the library; without it, no line is known).
 */
export const lineOf = (text: string, path: ReadonlyArray<string | number>): number | null => {
  const YAML = library
  if (YAML === undefined) return null
  let node: unknown = YAML.parseDocument(text).contents
  let offset: number | undefined = (node as { range?: [number, number, number] } | null)?.range?.[0]
  for (const segment of path) {
    if (YAML.isMap(node)) {
      const pair = node.items.find((item) => YAML.isScalar(item.key) && String(item.key.value) === String(segment))
      if (pair === undefined) return offset === undefined ? null : lineAt(text, offset)
      offset = (pair.key as { range?: [number, number, number] }).range?.[0] ?? offset
      node = pair.value
    } else if (YAML.isSeq(node) && typeof segment === "number") {
      node = node.items[segment]
      offset = (node as { range?: [number, number, number] } | null)?.range?.[0] ?? offset
    } else {
      break
    }
  }
  return offset === undefined ? null : lineAt(text, offset)
}

const lineAt = (text: string, offset: number) => text.slice(0, offset).split("\n").length

/** YAML text for plain data (what osctl writes into a seed's documents). */
export const stringify = (value: unknown): Effect.Effect<string> => Effect.map(load, (YAML) => YAML.stringify(value))
