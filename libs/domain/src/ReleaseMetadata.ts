/**
 * Release metadata of an update channel (DESIGN §4): `latest.json`, signed with Ed25519 over its
 * exact bytes. The same fields travel as `io.keelos.os.*` annotations on the OCI path.
 */
import { Schema } from "effect"
import { Version } from "./Version.ts"

export const Architecture = Schema.Literals(["amd64", "arm64"])
export type Architecture = typeof Architecture.Type

export const Sha256Hex = Schema.String.check(Schema.isPattern(/^[0-9a-f]{64}$/)).pipe(Schema.brand("Sha256Hex"))
export type Sha256Hex = typeof Sha256Hex.Type

const Size = Schema.Int.check(Schema.isGreaterThanOrEqualTo(0))

export const ImageRef = Schema.Struct({ url: Schema.String, size: Size, sha256: Sha256Hex })
export type ImageRef = typeof ImageRef.Type

/**
 * A patch from an older release's image to this one: which image it applies to (its version, and
 * the SHA-256 and size of exactly those bytes, so the node measures its active slot against them),
 * and the patch file itself.
 */
export const DeltaFormat = Schema.Literals(["bsdiff", "tree"])
export type DeltaFormat = typeof DeltaFormat.Type

export const DeltaRef = Schema.Struct({
  /** BSDIFF40 over the whole image (the default), or a content delta (KEELTD01) over its files. */
  format: Schema.optionalKey(DeltaFormat),
  from_version: Version,
  from_sha256: Sha256Hex,
  from_size: Size,
  url: Schema.String,
  size: Size,
  sha256: Sha256Hex
})
export type DeltaRef = typeof DeltaRef.Type

/** Which key signed the metadata; `development` marks a key generated for local builds, never for production. */
export const SigningKey = Schema.Struct({
  id: Schema.String.check(Schema.isPattern(/^[0-9a-f]{16}$/)),
  development: Schema.Boolean
})
export type SigningKey = typeof SigningKey.Type

export class ReleaseMetadata extends Schema.Class<ReleaseMetadata>("ReleaseMetadata")({
  schema: Schema.Literal(1),
  version: Version,
  channel: Schema.String.check(Schema.isPattern(/^[a-z0-9][a-z0-9._-]{0,63}$/)),
  arch: Architecture,
  min_compatible_version: Version,
  /** RFC 3339 timestamps. */
  release_date: Schema.String,
  /** Metadata older than this is refused: no replay or freeze attacks. */
  expires: Schema.String,
  release_notes: Schema.String,
  image: ImageRef,
  deltas: Schema.Array(DeltaRef),
  signing_key: SigningKey
}) {}
