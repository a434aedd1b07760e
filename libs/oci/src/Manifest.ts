/**
 * The documents of the OCI image specification the client reads: descriptors, image manifests and
 * image indexes. Decoding keeps only what the client uses; digests are always over the raw bytes,
 * never over a re-encoding.
 */
import { Result, Schema } from "effect"
import * as Digest from "./Digest.ts"
import * as MediaType from "./MediaType.ts"

const Annotations = Schema.Record(Schema.String, Schema.String)

export const Platform = Schema.Struct({
  architecture: Schema.String,
  os: Schema.String,
  variant: Schema.optionalKey(Schema.String)
})
export type Platform = typeof Platform.Type

export const Descriptor = Schema.Struct({
  mediaType: Schema.String,
  digest: Schema.String.check(Schema.isPattern(/^sha256:[0-9a-f]{64}$/)),
  size: Schema.Int.check(Schema.isGreaterThanOrEqualTo(0)),
  annotations: Schema.optionalKey(Annotations),
  platform: Schema.optionalKey(Platform),
  artifactType: Schema.optionalKey(Schema.String),
  data: Schema.optionalKey(Schema.String)
})
export type Descriptor = typeof Descriptor.Type

export const ImageManifest = Schema.Struct({
  schemaVersion: Schema.Literal(2),
  mediaType: Schema.optionalKey(Schema.String),
  artifactType: Schema.optionalKey(Schema.String),
  config: Descriptor,
  layers: Schema.Array(Descriptor),
  subject: Schema.optionalKey(Descriptor),
  annotations: Schema.optionalKey(Annotations)
})
export type ImageManifest = typeof ImageManifest.Type

export const ImageIndex = Schema.Struct({
  schemaVersion: Schema.Literal(2),
  mediaType: Schema.optionalKey(Schema.String),
  artifactType: Schema.optionalKey(Schema.String),
  manifests: Schema.Array(Descriptor),
  subject: Schema.optionalKey(Descriptor),
  annotations: Schema.optionalKey(Annotations)
})
export type ImageIndex = typeof ImageIndex.Type

const decodeManifest = Schema.decodeUnknownResult(Schema.fromJsonString(ImageManifest))
const decodeIndex = Schema.decodeUnknownResult(Schema.fromJsonString(ImageIndex))

const firstLine = (issue: unknown) => String(issue).split("\n")[0] ?? "invalid"

export const parseManifest = (bytes: Uint8Array): Result.Result<ImageManifest, string> =>
  Result.mapError(decodeManifest(new TextDecoder().decode(bytes)), firstLine)

export const parseIndex = (bytes: Uint8Array): Result.Result<ImageIndex, string> =>
  Result.mapError(decodeIndex(new TextDecoder().decode(bytes)), firstLine)

/** The bytes to push for a document: compact JSON, so the digest is stable for the same content. */
export const encode = (document: ImageManifest | ImageIndex): Uint8Array => new TextEncoder().encode(JSON.stringify(document))

export const describe = (mediaType: string, bytes: Uint8Array, extra: Partial<Pick<Descriptor, "annotations" | "platform" | "artifactType">> = {}): Descriptor => ({
  mediaType,
  digest: Digest.ofBytes(bytes),
  size: bytes.length,
  ...extra
})

/** The config of an artifact that has none: `{}` (OCI 1.1 guidance). */
export const emptyConfigBytes = new TextEncoder().encode("{}")
export const emptyConfig: Descriptor = { mediaType: MediaType.empty, digest: Digest.ofBytes(emptyConfigBytes), size: emptyConfigBytes.length, data: "e30=" }

/** The manifest of an index for `os/architecture`, or a message naming the platforms it has. */
export const selectPlatform = (index: ImageIndex, platform: { readonly os: string; readonly architecture: string }): Result.Result<Descriptor, string> => {
  const match = index.manifests.find((m) => m.platform?.os === platform.os && m.platform.architecture === platform.architecture)
  if (match !== undefined) return Result.succeed(match)
  const offered = index.manifests.flatMap((m) => (m.platform === undefined ? [] : [`${m.platform.os}/${m.platform.architecture}`]))
  return Result.fail(`no ${platform.os}/${platform.architecture} manifest in the index (it has ${offered.length === 0 ? "none with a platform" : offered.join(", ")})`)
}
