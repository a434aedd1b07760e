/**
 * The audit log: every call to the node API, allowed or refused, with who (certificate CN and
 * role), what (operation and a summary of its arguments with secrets redacted), the result and how
 * long it took. Persisted as JSON lines in a size-capped rotated file on the data partition, with
 * the newest entries kept in memory (bounded) for `GetAuditLog`.
 */
import { Context, Effect, FileSystem, Layer, Path, Schema } from "effect"
import { NodeApi } from "@keelos/api"
import { RotatingFile } from "@keelos/store"

export const AuditConfig = Schema.Struct({
  file: Schema.String,
  maxBytes: Schema.Int.check(Schema.isGreaterThanOrEqualTo(4096)),
  keep: Schema.Int.check(Schema.isBetween({ minimum: 1, maximum: 20 })),
  memoryEntries: Schema.Int.check(Schema.isBetween({ minimum: 1, maximum: 100_000 }))
})
export type AuditConfig = typeof AuditConfig.Type

const secretKey = /token|secret|password|passphrase|key|credential/i
const maxArguments = 256

const redact = (key: string, value: unknown): unknown => {
  if (key !== "" && secretKey.test(key)) return "[redacted]"
  if (typeof value === "string" && value.includes("PRIVATE KEY-----")) return "[redacted]"
  if (typeof value === "string" && value.includes("-----BEGIN ")) return `[PEM, ${value.length} bytes]`
  return value
}

/** A one-line summary of a payload: secrets (by name, and any private key) replaced, PEM shortened, long values cut. */
export const summarize = (payload: unknown): string => {
  const text = JSON.stringify(payload ?? {}, redact) ?? ""
  return text.length > maxArguments ? `${text.slice(0, maxArguments - 1)}…` : text
}

const decodeLine = Schema.decodeUnknownOption(Schema.fromJsonString(NodeApi.AuditEntry))
const encodeLine = Schema.encodeSync(Schema.fromJsonString(NodeApi.AuditEntry))

export class Audit extends Context.Service<Audit, {
  readonly record: (entry: NodeApi.AuditEntry) => Effect.Effect<void>
  /** The newest `count` entries, oldest first. */
  readonly tail: (count: number) => Effect.Effect<ReadonlyArray<NodeApi.AuditEntry>>
}>()("@keelos/agent/Audit") {
  static readonly layer = (config: AuditConfig) =>
    Layer.effect(Audit)(Effect.gen(function*() {
      const fs = yield* FileSystem.FileSystem
      const path = yield* Path.Path
      yield* fs.makeDirectory(path.dirname(config.file), { recursive: true, mode: 0o700 }).pipe(
        Effect.catch((error) => Effect.logWarning(`audit log directory: ${error.message}`))
      )
      const file = yield* RotatingFile.make(config.file, { maxBytes: config.maxBytes, keep: config.keep })
      const recent: Array<NodeApi.AuditEntry> = []
      for (const line of (yield* Effect.orElseSucceed(file.readCurrent, () => "")).split("\n")) {
        const entry = decodeLine(line)
        if (entry._tag === "Some") recent.push(entry.value)
      }
      recent.splice(0, Math.max(0, recent.length - config.memoryEntries))
      return Audit.of({
        record: (entry) =>
          Effect.gen(function*() {
            recent.push(entry)
            if (recent.length > config.memoryEntries) recent.shift()
            yield* file.append(`${encodeLine(entry)}\n`).pipe(
              Effect.catch((error) => Effect.logWarning(`audit entry not written to disk: ${error.message}`))
            )
          }),
        tail: (count) => Effect.sync(() => recent.slice(Math.max(0, recent.length - count)))
      })
    }))
}
