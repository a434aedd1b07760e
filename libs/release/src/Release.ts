/**
 * Reading a channel's latest.json the way a node must: the signature over the exact bytes by a key
 * the node trusts, then the schema, then freshness (expired metadata is refused: no replay, no
 * freeze), each refusal typed with its reason. The update engine's other gates (channel, arch,
 * versions) come after this, on a verified document only.
 */
import { Effect, Schema } from "effect"
import { ReleaseMetadata } from "@keelos/domain"
import * as Signing from "./Signing.ts"

export class ReleaseRefused extends Schema.TaggedError<ReleaseRefused>()("ReleaseRefused", {
  reason: Schema.Literals(["BadSignature", "UnknownKey", "Malformed", "Expired"]),
  detail: Schema.String
}) {
  override get message(): string {
    return `release metadata refused: ${this.reason}: ${this.detail}`
  }
}

const decodeJson = Schema.decodeUnknownEffect(Schema.fromJsonString(ReleaseMetadata.ReleaseMetadata))
const encodeJson = Schema.encodeSync(Schema.fromJsonString(ReleaseMetadata.ReleaseMetadata))

/** The bytes to publish as latest.json (what the signature covers). */
export const encode = (metadata: ReleaseMetadata.ReleaseMetadata): Uint8Array =>
  new TextEncoder().encode(`${JSON.stringify(JSON.parse(encodeJson(metadata)), null, 2)}\n`)

/** The key id the document claims, read before anything is trusted (only to find the key). */
const claimedKeyId = (text: string): string | undefined => {
  try {
    const id = (JSON.parse(text) as { signing_key?: { id?: unknown } }).signing_key?.id
    return typeof id === "string" ? id : undefined
  } catch {
    return undefined
  }
}

export const verify = Effect.fn("Release.verify")(function*(
  bytes: Uint8Array,
  signature: Uint8Array,
  trusted: ReadonlyArray<Signing.TrustedKey>,
  nowMillis: number
) {
  const text = new TextDecoder("utf-8", { fatal: false }).decode(bytes)
  const id = claimedKeyId(text)
  // A document that names no key it can be checked with is tried against every trusted key, so a
  // damaged document reads as a bad signature, not as an unknown key.
  const key = trusted.find((k) => k.id === id) ?? (id === undefined ? trusted.find((k) => Signing.verify(bytes, signature, k.publicKey)) : undefined)
  if (key === undefined) {
    return yield* id === undefined
      ? new ReleaseRefused({ reason: "BadSignature", detail: "no trusted key signed this document" })
      : new ReleaseRefused({ reason: "UnknownKey", detail: `signed with ${id}; this node trusts ${trusted.map((k) => k.id).join(", ") || "no key"}` })
  }
  if (!Signing.verify(bytes, signature, key.publicKey)) {
    return yield* new ReleaseRefused({ reason: "BadSignature", detail: `the signature does not match the document for key ${key.id}` })
  }
  const metadata = yield* Effect.mapError(decodeJson(text), (issue) => new ReleaseRefused({ reason: "Malformed", detail: String(issue).split("\n")[0]! }))
  const expires = Date.parse(metadata.expires)
  if (Number.isNaN(expires) || expires <= nowMillis) {
    return yield* new ReleaseRefused({ reason: "Expired", detail: `the metadata expired at ${metadata.expires}; the channel must publish fresh metadata` })
  }
  if (metadata.signing_key.development !== key.development) {
    return yield* new ReleaseRefused({ reason: "Malformed", detail: `the document and the trusted key disagree on whether ${key.id} is a development key` })
  }
  return metadata
})
