/**
 * A KeelOS release as an OCI artifact (DESIGN §4): per architecture, a manifest with the empty
 * config, the OS image as a layer of type `application/vnd.keelos.os.image.v1+squashfs`, and the
 * release metadata as `io.keelos.os.*` annotations; an index per tag; and the Ed25519 signature of
 * the manifest's digest as a referrer artifact. The manifest digest covers the annotations and
 * the image layer's digest, so one signature authenticates the metadata and the image, and the
 * `expires` annotation keeps a registry from replaying or freezing an old release.
 *
 * Building and verifying only, no network: the node reads what the registry client fetched, and
 * the same gates as for an HTTP channel follow.
 */
import { Effect, Result, Schema } from "effect"
import * as Base64 from "effect/encoding/Base64"
import { ReleaseMetadata } from "@keelos/domain"
import { Digest, Manifest, MediaType } from "@keelos/oci"
import { ReleaseRefused } from "./Release.ts"
import * as Signing from "./Signing.ts"

export const artifactType = "application/vnd.keelos.os.v1"
export const imageLayerType = "application/vnd.keelos.os.image.v1+squashfs"
export const deltaLayerType = "application/vnd.keelos.os.delta.v1+bsdiff"
/** A content delta (KEELTD01): the node rebuilds the image from its own files and this. */
export const treeDeltaLayerType = "application/vnd.keelos.os.delta.v1+keeltd"
export const signatureArtifactType = "application/vnd.keelos.os.signature.v1"
export const signatureLayerType = "application/vnd.keelos.os.signature.v1+ed25519"

const annotation = {
  version: "io.keelos.os.version",
  channel: "io.keelos.os.channel",
  architecture: "io.keelos.os.architecture",
  minCompatibleVersion: "io.keelos.os.min_compatible_version",
  releaseDate: "io.keelos.os.release_date",
  releaseNotes: "io.keelos.os.release_notes",
  expires: "io.keelos.os.expires",
  signingKey: "io.keelos.os.signing_key",
  development: "io.keelos.os.signing_key.development",
  deltaFromVersion: "io.keelos.os.delta.from_version",
  deltaFromSha256: "io.keelos.os.delta.from_sha256",
  deltaFromSize: "io.keelos.os.delta.from_size"
} as const

/** A patch layer: the blob, and the image it applies to. */
export interface DeltaLayer {
  readonly digest: Digest.Digest
  readonly size: number
  readonly fromVersion: string
  readonly fromSha256: string
  readonly fromSize: number
  /** BSDIFF40 unless told. */
  readonly format?: ReleaseMetadata.DeltaFormat
}

/** A delta's file name in a channel and its layer's title. */
export const deltaFileName = (fromVersion: string, format: ReleaseMetadata.DeltaFormat = "bsdiff") =>
  `delta-${fromVersion}.${format === "tree" ? "keeltd" : "bsdiff"}`

/** What a release says about itself; the image is named by its layer. */
export interface ReleaseFields {
  readonly version: string
  readonly channel: string
  readonly arch: ReleaseMetadata.Architecture
  readonly minCompatibleVersion: string
  readonly releaseDate: string
  readonly expires: string
  readonly notes: string
}

/** The manifest of one architecture's release, pointing at the image blob and any delta blobs. */
export const manifestOf = (
  fields: ReleaseFields,
  image: { readonly digest: Digest.Digest; readonly size: number },
  deltas: ReadonlyArray<DeltaLayer> = []
): Manifest.ImageManifest => ({
  schemaVersion: 2,
  mediaType: MediaType.imageManifest,
  artifactType,
  config: Manifest.emptyConfig,
  layers: [
    { mediaType: imageLayerType, digest: image.digest, size: image.size, annotations: { "org.opencontainers.image.title": `os-${fields.version}.img` } },
    ...deltas.map((d) => ({
      mediaType: d.format === "tree" ? treeDeltaLayerType : deltaLayerType,
      digest: d.digest,
      size: d.size,
      annotations: {
        "org.opencontainers.image.title": deltaFileName(d.fromVersion, d.format),
        [annotation.deltaFromVersion]: d.fromVersion,
        [annotation.deltaFromSha256]: d.fromSha256,
        [annotation.deltaFromSize]: String(d.fromSize)
      }
    }))
  ],
  annotations: {
    [annotation.version]: fields.version,
    [annotation.channel]: fields.channel,
    [annotation.architecture]: fields.arch,
    [annotation.minCompatibleVersion]: fields.minCompatibleVersion,
    [annotation.releaseDate]: fields.releaseDate,
    [annotation.expires]: fields.expires,
    [annotation.releaseNotes]: fields.notes
  }
})

/** The index of a tag: one entry per architecture, with its platform for selection. */
export const indexOf = (manifests: ReadonlyArray<{ readonly arch: ReleaseMetadata.Architecture; readonly bytes: Uint8Array; readonly version: string }>): Manifest.ImageIndex => ({
  schemaVersion: 2,
  mediaType: MediaType.imageIndex,
  artifactType,
  manifests: manifests.map((m) =>
    Manifest.describe(MediaType.imageManifest, m.bytes, {
      artifactType,
      platform: { os: "linux", architecture: m.arch },
      annotations: { [annotation.version]: m.version }
    })
  ),
  annotations: { [annotation.version]: manifests[0]?.version ?? "" }
})

/** The bytes an Ed25519 key signs for a manifest: its digest, `sha256:<hex>`, as UTF-8. */
export const signedBytes = (manifestDigest: Digest.Digest) => new TextEncoder().encode(manifestDigest)

export interface SignatureArtifact {
  readonly signature: Uint8Array
  readonly manifest: Manifest.ImageManifest
}

/** The referrer that carries a signature: its one layer is the 64 signature bytes (also inline). */
export const signatureOf = (
  subject: Manifest.Descriptor,
  privateKeyPem: string,
  key: { readonly id: string; readonly development: boolean }
): SignatureArtifact => {
  const signature = Signing.sign(signedBytes(subject.digest as Digest.Digest), privateKeyPem)
  return {
    signature,
    manifest: {
      schemaVersion: 2,
      mediaType: MediaType.imageManifest,
      artifactType: signatureArtifactType,
      config: Manifest.emptyConfig,
      layers: [{ ...Manifest.describe(signatureLayerType, signature), data: Base64.encode(signature) }],
      subject: { mediaType: subject.mediaType, digest: subject.digest, size: subject.size },
      annotations: { [annotation.signingKey]: key.id, [annotation.development]: String(key.development) }
    }
  }
}

/** A signature read back from a registry: the key it names and the bytes of its layer. */
export interface FoundSignature {
  readonly keyId: string | null
  readonly signature: Uint8Array
}

/** The signature layer of a signature manifest, and the key id it claims; null if it is not one. */
export const readSignatureManifest = (manifest: Manifest.ImageManifest): { readonly keyId: string | null; readonly layer: Manifest.Descriptor } | null => {
  if (manifest.artifactType !== signatureArtifactType) return null
  const layer = manifest.layers.find((l) => l.mediaType === signatureLayerType)
  return layer === undefined ? null : { keyId: manifest.annotations?.[annotation.signingKey] ?? null, layer }
}

/** The inline bytes of a descriptor (`data`), when present and matching its digest. */
export const inlineData = (descriptor: Manifest.Descriptor): Uint8Array | null => {
  if (descriptor.data === undefined) return null
  const decoded = Base64.decode(descriptor.data)
  return Result.isSuccess(decoded) && Digest.ofBytes(decoded.success) === descriptor.digest ? decoded.success : null
}

const decodeMetadata = Schema.decodeUnknownResult(ReleaseMetadata.ReleaseMetadata)

export interface Verified {
  readonly metadata: ReleaseMetadata.ReleaseMetadata
  /** The image layer: the blob to stream into the slot. */
  readonly image: Manifest.Descriptor
}

/**
 * A node's reading of a release manifest: a signature by a trusted key over the manifest digest
 * (unless `allowUnsigned`, for development registries only), the annotations as release metadata
 * (the same schema as latest.json), and freshness. The gates of the update engine follow.
 */
export const verify = Effect.fn("Artifact.verify")(function*(
  manifest: Manifest.ImageManifest,
  manifestDigest: Digest.Digest,
  signatures: ReadonlyArray<FoundSignature>,
  trusted: ReadonlyArray<Signing.TrustedKey>,
  nowMillis: number,
  allowUnsigned: boolean
) {
  const message = signedBytes(manifestDigest)
  const good = signatures.flatMap((found) => {
    const key = trusted.find((k) => k.id === found.keyId) ?? (found.keyId === null ? trusted.find((k) => Signing.verify(message, found.signature, k.publicKey)) : undefined)
    return key !== undefined && Signing.verify(message, found.signature, key.publicKey) ? [key] : []
  })[0]
  if (good === undefined && !allowUnsigned) {
    if (signatures.length === 0) return yield* new ReleaseRefused({ reason: "BadSignature", detail: `${manifestDigest} is not signed (no signature referrer); publish it signed, or configure this node to allow unsigned artifacts for development` })
    const named = signatures.flatMap((s) => (s.keyId !== null && !trusted.some((k) => k.id === s.keyId) ? [s.keyId] : []))
    return yield* named.length === signatures.length
      ? new ReleaseRefused({ reason: "UnknownKey", detail: `${manifestDigest} is signed with ${named.join(", ")}; this node trusts ${trusted.map((k) => k.id).join(", ") || "no key"}` })
      : new ReleaseRefused({ reason: "BadSignature", detail: `no signature of ${manifestDigest} verifies with a trusted key` })
  }
  if (manifest.artifactType !== artifactType) {
    return yield* new ReleaseRefused({ reason: "Malformed", detail: `${manifestDigest} is a ${manifest.artifactType ?? "manifest without artifactType"}, not a KeelOS release (${artifactType})` })
  }
  const image = manifest.layers.find((layer) => layer.mediaType === imageLayerType)
  if (image === undefined) return yield* new ReleaseRefused({ reason: "Malformed", detail: `${manifestDigest} has no ${imageLayerType} layer` })
  const a = manifest.annotations ?? {}
  const decoded = decodeMetadata({
    schema: 1,
    version: a[annotation.version],
    channel: a[annotation.channel],
    arch: a[annotation.architecture],
    min_compatible_version: a[annotation.minCompatibleVersion],
    release_date: a[annotation.releaseDate],
    expires: a[annotation.expires],
    release_notes: a[annotation.releaseNotes] ?? "",
    image: { url: image.digest, size: image.size, sha256: Digest.hexOf(image.digest as Digest.Digest) },
    // A delta layer names its blob by digest (the url); its base comes from its annotations.
    deltas: manifest.layers.filter((layer) => layer.mediaType === deltaLayerType || layer.mediaType === treeDeltaLayerType).map((layer) => ({
      ...(layer.mediaType === treeDeltaLayerType ? { format: "tree" } : {}),
      from_version: layer.annotations?.[annotation.deltaFromVersion],
      from_sha256: layer.annotations?.[annotation.deltaFromSha256],
      from_size: Number(layer.annotations?.[annotation.deltaFromSize]),
      url: layer.digest,
      size: layer.size,
      sha256: Digest.hexOf(layer.digest as Digest.Digest)
    })),
    signing_key: { id: good?.id ?? "0000000000000000", development: good?.development ?? true }
  })
  if (Result.isFailure(decoded)) {
    return yield* new ReleaseRefused({ reason: "Malformed", detail: `the io.keelos.os.* annotations of ${manifestDigest} are not release metadata: ${String(decoded.failure).split("\n")[0]}` })
  }
  const metadata = decoded.success
  const expires = Date.parse(metadata.expires)
  if (Number.isNaN(expires) || expires <= nowMillis) {
    return yield* new ReleaseRefused({ reason: "Expired", detail: `the release metadata expired at ${metadata.expires}; the publisher must push it freshly signed` })
  }
  return { metadata, image } satisfies Verified
})
