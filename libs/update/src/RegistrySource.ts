/**
 * Resolves a release in an OCI registry to the blob to stream into the slot, through the same
 * gates as an HTTP channel: the tag's index gives this node's architecture (a missing one is a
 * clear refusal), the manifest must carry a signature by a trusted key over its digest (found as
 * a referrer), its annotations must be fresh release metadata, and then channel, arch and version
 * gates apply. The image blob is streamed into the slot like any download, with the registry's
 * Authorization header for the repository.
 */
import { Clock, Effect, Result } from "effect"
import { HttpClient } from "effect/http"
import type { Version } from "@keelos/domain"
import { Digest, Manifest, MediaType, Reference, Registry, type RegistryError } from "@keelos/oci"
import { Artifact, type Signing } from "@keelos/release"
import * as Gates from "./Gates.ts"
import type * as DeltaInstall from "./DeltaInstall.ts"
import type * as SlotWriter from "./SlotWriter.ts"
import * as UpdateError from "./UpdateError.ts"

/** How this node reaches registries. */
export interface Access {
  /** Credentials for a registry (`host[:port]`), or null for anonymous access; read at each install. */
  readonly credentials: (registry: string) => Effect.Effect<Registry.Credentials | null>
  /** Accept artifacts without a trusted signature: for development registries only. */
  readonly allowUnsigned: boolean
}

export const anonymous: Access = { credentials: () => Effect.succeed(null), allowUnsigned: false }

/** Signatures looked at per manifest; a registry cannot make the node read an unbounded list. */
const maxSignatures = 8

export const toUpdateError = (operation: UpdateError.UpdateOperation) => (error: RegistryError.RegistryError) =>
  UpdateError.make(
    operation,
    error.reason === "Unreachable"
      ? "Transfer"
      : error.reason === "Integrity"
      ? "Integrity"
      : error.reason === "NotFound" || error.reason === "BadReference"
      ? "BadRequest"
      : error.reason === "Protocol" || error.reason === "TooLarge"
      ? "HttpStatus"
      : "Refused",
    error.message
  )

export interface Resolved extends SlotWriter.Target {
  readonly version: Version.Version
  readonly deltas: ReadonlyArray<DeltaInstall.Candidate>
}

const refused = (detail: string) => UpdateError.make("check", "Refused", detail)

export const resolve = Effect.fn("RegistrySource.resolve")(function*(
  reference: Reference.Reference,
  access: Access,
  trusted: ReadonlyArray<Signing.TrustedKey>,
  node: Gates.NodeView,
  force: boolean
) {
  const registry = Registry.make({
    client: yield* HttpClient.HttpClient,
    scheme: reference.scheme,
    registry: reference.registry,
    credentials: yield* access.credentials(reference.registry)
  })
  const repository = reference.repository
  const where = Reference.format(reference)
  const fetch = Effect.fn(function*() {
    const top = yield* registry.getManifest(repository, Reference.manifestReference(reference))
    let fetched = top
    if (MediaType.isIndex(top.mediaType)) {
      const index = Manifest.parseIndex(top.bytes)
      if (Result.isFailure(index)) return yield* refused(`${where} is not a valid image index: ${index.failure}`)
      const chosen = Manifest.selectPlatform(index.success, { os: "linux", architecture: node.arch })
      if (Result.isFailure(chosen)) return yield* refused(`${where}: ${chosen.failure}`)
      fetched = yield* registry.getManifest(repository, chosen.success.digest, [MediaType.imageManifest])
    }
    const manifest = Manifest.parseManifest(fetched.bytes)
    if (Result.isFailure(manifest)) return yield* refused(`${where} is not a valid image manifest: ${manifest.failure}`)
    const referrers = yield* registry.referrers(repository, fetched.digest, Artifact.signatureArtifactType)
    const signatures = yield* Effect.forEach(referrers.slice(0, maxSignatures), (descriptor) =>
      Effect.gen(function*() {
        const signed = Manifest.parseManifest((yield* registry.getManifest(repository, descriptor.digest, [MediaType.imageManifest])).bytes)
        const read = Result.isSuccess(signed) ? Artifact.readSignatureManifest(signed.success) : null
        if (read === null || read.layer.size > 1024) return []
        const signature = Artifact.inlineData(read.layer) ?? (yield* registry.getBlob(repository, read.layer.digest as Digest.Digest, 1024))
        return [{ keyId: read.keyId, signature }]
      }).pipe(
        // A referrer that is gone or damaged is no signature; the ones left decide.
        Effect.catchIf((error) => error.reason !== "Unreachable" && error.reason !== "Unauthorized", () => Effect.succeed([]))
      ))
    return { digest: fetched.digest, manifest: manifest.success, signatures: signatures.flat() }
  })
  const { digest, manifest, signatures } = yield* Effect.mapError(fetch(), (error) => error._tag === "RegistryError" ? toUpdateError("check")(error) : error)
  const now = yield* Clock.currentTimeMillis
  const verified = yield* Artifact.verify(manifest, digest, signatures, trusted, now, access.allowUnsigned).pipe(
    Effect.mapError((error) => refused(`${where}: ${error.message}`))
  )
  if (signatures.length === 0 && access.allowUnsigned) yield* Effect.logWarning(`installing ${where} without a signature: this node allows unsigned artifacts (development only)`)
  const metadata = yield* Effect.fromResult(Gates.check(verified.metadata, node, { channel: null, force }))
  const client = HttpClient.transformResponse(
    registry.authorizedClient(Registry.pullScope(repository)),
    Effect.catchTag("RegistryError", (error: RegistryError.RegistryError) => Effect.fail(toUpdateError("download")(error)))
  )
  return {
    url: registry.blobUrl(repository, verified.image.digest as Digest.Digest),
    sha256: metadata.image.sha256,
    sizeBytes: metadata.image.size,
    version: metadata.version,
    authorize: (challenge: string | null) => Effect.mapError(registry.authorization(Registry.pullScope(repository), challenge), toUpdateError("download")),
    deltas: metadata.deltas.map((ref) => ({ ref, url: registry.blobUrl(repository, Digest.fromHex(ref.sha256)), client }))
  } satisfies Resolved
})
