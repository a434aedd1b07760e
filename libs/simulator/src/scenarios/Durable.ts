/** What scenarios read back from the simulated hardware after a boot: durable files, digests. */
import { createHash } from "node:crypto"
import { Result, Schema } from "effect"
import type { SimHardware } from "@keelos/platform-sim"
import type { Slot } from "@keelos/domain"

export const sha256 = (bytes: Uint8Array) => createHash("sha256").update(bytes).digest("hex")

/**
 * The SHA-256 of the first `length` bytes of a partition, computed again only when the disk's
 * generation for it changed: invariants hash both slots on every boot.
 */
const digests = new WeakMap<object, Map<string, { readonly generation: number; readonly length: number; readonly hash: string }>>()
export const partitionDigest = (hardware: SimHardware, label: Slot.PartitionLabel, length: number): string => {
  const disk = hardware.disk
  const known = digests.get(disk) ?? new Map()
  digests.set(disk, known)
  const generation = disk.generation(label)
  const cached = known.get(label)
  if (cached !== undefined && cached.generation === generation && cached.length === length) return cached.hash
  const hash = sha256(disk.read(label, 0, length))
  known.set(label, { generation, length, hash })
  return hash
}

const textDecoder = new TextDecoder()

/** A JSON decoder per schema, made once: making one walks the whole schema. */
const decoders = new WeakMap<object, (text: string) => Result.Result<unknown, unknown>>()
const decoderOf = (schema: Schema.Codec<unknown, unknown>) => {
  const known = decoders.get(schema)
  if (known !== undefined) return known
  const decoder = Schema.decodeUnknownResult(Schema.fromJsonString(Schema.toCodecJson(schema)))
  decoders.set(schema, decoder)
  return decoder
}

/** The last text decoded per schema and its result: most boots leave state and history as they were. */
const lastDecoded = new WeakMap<object, { readonly text: string; readonly decoded: Result.Result<unknown, unknown> }>()

/** The durable content of a JSON file decoded with `schema`: undefined when absent, a failure when corrupt. */
export const decode = <S extends Schema.Codec<unknown, unknown>>(hardware: SimHardware, path: string, schema: S) => {
  const bytes = hardware.fs.durableContent(path)
  if (bytes === undefined) return Result.succeed(undefined)
  const text = textDecoder.decode(bytes)
  const last = lastDecoded.get(schema)
  const decoded = (last !== undefined && last.text === text ? last.decoded : decoderOf(schema)(text)) as Result.Result<S["Type"], unknown>
  lastDecoded.set(schema, { text, decoded })
  return Result.isSuccess(decoded) ? Result.succeed(decoded.success) : Result.fail(String(decoded.failure).split("\n")[0]!)
}
