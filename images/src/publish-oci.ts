/**
 * Publishing a built image to an OCI registry (DESIGN §4): the image blob (chunked upload), the
 * per-arch manifest with the release metadata as `io.keelos.os.*` annotations, its Ed25519
 * signature as a referrer, and the multi-arch index under the tag (and any extra tags). The
 * metadata is dated and expires like the HTTP channel's, so re-publishing re-signs it.
 *
 * `node images/src/publish-oci.ts --to oci://registry/keelos/os:0.2.0 [--tag stable] [--channel stable]
 *   [--expires-days 30] [--min-compatible 0.1.0] [--notes TEXT] [--ca FILE] [--username U]
 *   [--delta-from VERSION=PATH/os.img ...] [--delta-format tree|bsdiff]`
 * (the password comes from KEELOS_REGISTRY_PASSWORD; `oci+http://` for a plain-HTTP registry).
 * Deltas (content deltas unless told) are pushed as layers of their own media type.
 */
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { parseArgs } from "node:util"
import { Effect, Result } from "effect"
import { HttpClient } from "effect/http"
import { Reference, Registry, RegistryError } from "@keelos/oci"
import * as NodeHttp from "@keelos/platform-node/NodeHttp"
import { Artifact, Publish } from "@keelos/release"
import { ensureImage } from "./build.ts"
import { signingKey } from "./keys.ts"
import { deltaSpecsOf, makeDelta, type ReleaseOptions, sha256File } from "./release.ts"

/** What an HTTP channel release takes, with a registry reference instead of an output directory. */
export interface OciPublishOptions extends Omit<ReleaseOptions, "out"> {
  /** `oci://registry/repository:tag` */
  readonly to: string
  readonly extraTags: ReadonlyArray<string>
  readonly caPem?: string
  readonly credentials?: Registry.Credentials
}

/** The image file as a blob, read a chunk at a time while it uploads. */
const fileBlob = (file: string): Registry.BlobSource<RegistryError.RegistryError> => ({
  digest: `sha256:${sha256File(file)}`,
  size: fs.statSync(file).size,
  read: (offset, length) =>
    Effect.try({
      try: () => {
        const bytes = Buffer.alloc(length)
        const fd = fs.openSync(file, "r")
        try {
          fs.readSync(fd, bytes, 0, length, offset)
        } finally {
          fs.closeSync(fd)
        }
        return new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.length)
      },
      catch: (error) => RegistryError.make("read image", "BadReference", `${file}: ${String(error)}`)
    })
})

export const publishOci = (options: OciPublishOptions) => {
  const reference = Result.getOrThrowWith(Reference.parse(options.to), (detail) => new Error(detail))
  const key = signingKey()
  const fields = {
    version: options.version,
    channel: options.channel,
    arch: options.arch,
    minCompatibleVersion: options.minCompatibleVersion,
    releaseDate: new Date(options.nowMillis).toISOString(),
    expires: new Date(options.nowMillis + options.expiresDays * 86_400_000).toISOString(),
    notes: options.notes
  }
  const tags = [reference.tag ?? options.version, ...options.extraTags]
  const program = Effect.gen(function*() {
    const registry = Registry.make({ client: yield* HttpClient.HttpClient, scheme: reference.scheme, registry: reference.registry, credentials: options.credentials ?? null })
    return yield* Publish.publish(registry, reference.repository, tags, [{ fields, image: fileBlob(options.osImage), deltas }], { ...key })
  })
  // Deltas are made beside each other in a scratch directory and pushed as layers of their own type.
  const scratch = fs.mkdtempSync(path.join(os.tmpdir(), "keel-publish-"))
  const deltas = (options.deltas ?? []).map((delta) => {
    const file = path.join(scratch, Artifact.deltaFileName(delta.fromVersion, delta.format ?? "tree"))
    const made = makeDelta(delta, options.osImage, file)
    return { blob: fileBlob(file), fromVersion: made.from_version, fromSha256: made.from_sha256, fromSize: made.from_size, ...(made.format === undefined ? {} : { format: made.format }) }
  })
  return Effect.runPromise(Effect.provide(program, options.caPem === undefined ? NodeHttp.layer : NodeHttp.layerTrusting(options.caPem)))
    .then((published) => ({ published, key, tags, reference, deltas }))
    .finally(() => fs.rmSync(scratch, { recursive: true, force: true }))
}

if (import.meta.main) {
  const { values } = parseArgs({
    options: {
      to: { type: "string" },
      tag: { type: "string", multiple: true, default: [] },
      channel: { type: "string", default: "stable" },
      "expires-days": { type: "string", default: "30" },
      "min-compatible": { type: "string", default: "0.1.0" },
      notes: { type: "string", default: "" },
      ca: { type: "string" },
      username: { type: "string" },
      "delta-from": { type: "string", multiple: true, default: [] },
      "delta-format": { type: "string", default: "tree" }
    }
  })
  if (values.to === undefined || !Reference.isOci(values.to)) {
    console.error("usage: node images/src/publish-oci.ts --to oci://registry/repository:tag [--tag T]… [--channel stable] [--expires-days 30] [--min-compatible 0.1.0] [--notes TEXT] [--ca FILE] [--username U] [--delta-from VERSION=PATH/os.img ...] [--delta-format tree|bsdiff] (password in KEELOS_REGISTRY_PASSWORD)")
    process.exit(2)
  }
  const deltas = deltaSpecsOf(values["delta-from"], values["delta-format"])
  const image = ensureImage()
  const version = process.env["KEELOS_VERSION"] ?? "0.1.0"
  const password = process.env["KEELOS_REGISTRY_PASSWORD"]
  try {
    const { key, published, tags, reference, deltas: pushed } = await publishOci({
      osImage: image.osImage, version, to: values.to, extraTags: values.tag, channel: values.channel, arch: "amd64",
      minCompatibleVersion: values["min-compatible"], expiresDays: Number(values["expires-days"]), notes: values.notes, nowMillis: Date.now(), deltas,
      ...(values.ca === undefined ? {} : { caPem: fs.readFileSync(values.ca, "utf8") }),
      ...(values.username === undefined ? {} : { credentials: { username: values.username, password: password ?? "" } })
    })
    console.log(`published ${version} to ${reference.registry}/${reference.repository} as ${tags.join(", ")} (index ${published.index}${pushed.map((d) => `, a ${d.format ?? "bsdiff"} delta from ${d.fromVersion} of ${d.blob.size} bytes`).join("")}); signed with ${key.development ? "the DEVELOPMENT key" : "key"} ${key.id}`)
  } catch (error) {
    console.error(`publish-oci: ${error instanceof Error ? error.message : String(error)}`)
    process.exit(1)
  }
}
