/**
 * Publishing a release to an OCI registry: the image blobs (chunked when large), one signed
 * manifest per architecture, then the multi-arch index under the tag. Signatures are attached
 * before the index is tagged, so a node that sees the tag finds them.
 */
import { Effect } from "effect"
import type { ReleaseMetadata } from "@keelos/domain"
import { Digest, Manifest, MediaType, type Registry, type RegistryError } from "@keelos/oci"
import * as Artifact from "./Artifact.ts"

export interface ArchRelease<E> {
  readonly fields: Artifact.ReleaseFields
  readonly image: Registry.BlobSource<E>
  /** Patches from earlier releases' images to this one, pushed as layers of their own type. */
  readonly deltas?: ReadonlyArray<{ readonly blob: Registry.BlobSource<E>; readonly fromVersion: string; readonly fromSha256: string; readonly fromSize: number; readonly format?: ReleaseMetadata.DeltaFormat }>
}

export interface Signer {
  readonly id: string
  readonly development: boolean
  readonly privateKey: string
}

export interface Published {
  readonly index: Digest.Digest
  readonly manifests: ReadonlyArray<{ readonly arch: ReleaseMetadata.Architecture; readonly digest: Digest.Digest; readonly signature: Digest.Digest }>
}

export const publish = Effect.fn("Publish.publish")(function*<E>(
  registry: Registry.Registry,
  repository: string,
  tags: ReadonlyArray<string>,
  releases: ReadonlyArray<ArchRelease<E>>,
  signer: Signer
) {
  const pushed: Array<{ arch: ReleaseMetadata.Architecture; digest: Digest.Digest; signature: Digest.Digest; bytes: Uint8Array; version: string }> = []
  yield* registry.pushBlob(repository, { digest: Manifest.emptyConfig.digest as Digest.Digest, size: 2, read: () => Effect.succeed(Manifest.emptyConfigBytes) })
  for (const release of releases) {
    yield* registry.pushBlob(repository, release.image)
    for (const delta of release.deltas ?? []) yield* registry.pushBlob(repository, delta.blob)
    const deltas = (release.deltas ?? []).map((d) => ({ digest: d.blob.digest, size: d.blob.size, fromVersion: d.fromVersion, fromSha256: d.fromSha256, fromSize: d.fromSize, ...(d.format === undefined ? {} : { format: d.format }) }))
    const bytes = Manifest.encode(Artifact.manifestOf(release.fields, release.image, deltas))
    const { digest } = yield* registry.putManifest(repository, Digest.ofBytes(bytes), bytes, MediaType.imageManifest)
    const signature = Artifact.signatureOf(Manifest.describe(MediaType.imageManifest, bytes), signer.privateKey, signer)
    yield* registry.pushBlob(repository, { digest: Digest.ofBytes(signature.signature), size: signature.signature.length, read: () => Effect.succeed(signature.signature) })
    const signatureDigest = yield* registry.attachReferrer(repository, digest, Manifest.encode(signature.manifest), Artifact.signatureArtifactType, signature.manifest.annotations)
    pushed.push({ arch: release.fields.arch, digest, signature: signatureDigest, bytes, version: release.fields.version })
  }
  const index = Manifest.encode(Artifact.indexOf(pushed))
  for (const tag of tags) yield* registry.putManifest(repository, tag, index, MediaType.imageIndex)
  return {
    index: Digest.ofBytes(index),
    manifests: pushed.map(({ arch, digest, signature }) => ({ arch, digest, signature }))
  } satisfies Published
}) as <E>(
  registry: Registry.Registry,
  repository: string,
  tags: ReadonlyArray<string>,
  releases: ReadonlyArray<ArchRelease<E>>,
  signer: Signer
) => Effect.Effect<Published, RegistryError.RegistryError | E>
