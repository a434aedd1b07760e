/** What scenarios read back from the simulated hardware after a boot: durable files, digests. */
import { createHash } from "node:crypto"
import { Result, Schema } from "effect"
import type { SimHardware } from "@keelos/platform-sim"

export const sha256 = (bytes: Uint8Array) => createHash("sha256").update(bytes).digest("hex")

/** The durable content of a JSON file decoded with `schema`: undefined when absent, a failure when corrupt. */
export const decode = <S extends Schema.Codec<unknown, unknown>>(hardware: SimHardware, path: string, schema: S) => {
  const bytes = hardware.fs.durableContent(path)
  if (bytes === undefined) return Result.succeed(undefined)
  const codec = Schema.fromJsonString(Schema.toCodecJson(schema as unknown as Schema.Codec<S["Type"], unknown>))
  const decoded = Schema.decodeUnknownResult(codec)(new TextDecoder().decode(bytes))
  return Result.isSuccess(decoded) ? Result.succeed(decoded.success) : Result.fail(String(decoded.failure).split("\n")[0]!)
}
