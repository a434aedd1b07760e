/**
 * The kernel's log (/dev/kmsg): what is in the ring buffer now, and new records as they come.
 * Records are parsed from the kmsg format `priority,sequence,microseconds,flags;message`.
 */
import { Context, Schema, type Stream } from "effect"

export const KernelRecord = Schema.Struct({
  sequence: Schema.Number,
  /** syslog level 0 (emerg) to 7 (debug). */
  level: Schema.Int,
  facility: Schema.Int,
  /** Microseconds since boot (the kernel's monotonic clock). */
  sinceBootMicros: Schema.Number,
  message: Schema.String
})
export type KernelRecord = typeof KernelRecord.Type

export class KernelLogError extends Schema.TaggedError<KernelLogError>()("KernelLogError", { reason: Schema.String }) {
  override get message(): string {
    return `kernel log: ${this.reason}`
  }
}

export class KernelLog extends Context.Service<KernelLog, {
  /** The records in the ring buffer, oldest first; then, with `follow`, new ones as they are logged. */
  readonly records: (options: { readonly follow: boolean }) => Stream.Stream<KernelRecord, KernelLogError>
}>()("@keelos/platform/KernelLog") {}

/** One kmsg record; continuation lines (` KEY=value`) are dropped; undefined when it is not one. */
export const parse = (text: string): KernelRecord | undefined => {
  const separator = text.indexOf(";")
  if (separator < 0) return undefined
  const [prefix, sequence, micros] = text.slice(0, separator).split(",")
  const value = Number(prefix)
  if (!Number.isInteger(value) || sequence === undefined || micros === undefined) return undefined
  const message = text.slice(separator + 1).split("\n")[0]!
  return { sequence: Number(sequence), level: value & 7, facility: value >> 3, sinceBootMicros: Number(micros), message: message.replace(/\\x([0-9a-f]{2})/g, (_, hex: string) => String.fromCharCode(Number.parseInt(hex, 16))) }
}
