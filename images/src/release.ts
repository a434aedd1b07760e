/**
 * Publishing a built image as an update: `{out}/{channel}/{arch}/latest.json`, its Ed25519 `.sig`,
 * and the image beside them as `os-{version}.img`, for an HTTP channel (DESIGN §4). The metadata is
 * dated when it is signed (not when the image was built) and expires `expiresDays` later, so a
 * channel re-signs fresh metadata without rebuilding. `node images/src/release.ts --out DIR
 * [--channel stable] [--expires-days 30] [--min-compatible 0.1.0] [--notes TEXT]
 * [--delta-from VERSION=PATH/os.img ...]`.
 */
import { execFileSync } from "node:child_process"
import { createHash } from "node:crypto"
import * as fs from "node:fs"
import * as path from "node:path"
import { parseArgs } from "node:util"
import { Schema } from "effect"
import { ReleaseMetadata } from "@keelos/domain"
import { Release, Signing } from "@keelos/release"
import { ensureImage } from "./build.ts"
import { signingKey } from "./keys.ts"

export interface ReleaseOptions {
  readonly osImage: string
  readonly version: string
  readonly out: string
  readonly channel: string
  readonly arch: "amd64" | "arm64"
  readonly minCompatibleVersion: string
  readonly expiresDays: number
  readonly notes: string
  readonly nowMillis: number
  /**
   * Earlier releases' images to make patches from (Debian's bsdiff, BSDIFF40), listed in the
   * metadata as `deltas`; `patchFile` publishes a given patch instead (tests use a corrupt one).
   */
  readonly deltas?: ReadonlyArray<{ readonly fromImage: string; readonly fromVersion: string; readonly patchFile?: string }>
}

export const sha256File = (file: string) => {
  const hash = createHash("sha256")
  const fd = fs.openSync(file, "r")
  const buffer = Buffer.alloc(1 << 20)
  try {
    for (let read = fs.readSync(fd, buffer); read > 0; read = fs.readSync(fd, buffer)) hash.update(buffer.subarray(0, read))
  } finally {
    fs.closeSync(fd)
  }
  return hash.digest("hex")
}

export const publish = (options: ReleaseOptions) => {
  const key = signingKey()
  const dir = path.join(options.out, options.channel, options.arch)
  fs.mkdirSync(dir, { recursive: true })
  const imageName = `os-${options.version}.img`
  fs.copyFileSync(options.osImage, path.join(dir, imageName))
  const deltas = (options.deltas ?? []).map((delta) => {
    const name = `delta-${delta.fromVersion}.bsdiff`
    const file = path.join(dir, name)
    if (delta.patchFile === undefined) execFileSync("bsdiff", [delta.fromImage, options.osImage, file])
    else fs.copyFileSync(delta.patchFile, file)
    return {
      from_version: delta.fromVersion,
      from_sha256: sha256File(delta.fromImage),
      from_size: fs.statSync(delta.fromImage).size,
      url: name,
      size: fs.statSync(file).size,
      sha256: sha256File(file)
    }
  })
  const metadata = Schema.decodeUnknownSync(ReleaseMetadata.ReleaseMetadata)({
    schema: 1,
    version: options.version,
    channel: options.channel,
    arch: options.arch,
    min_compatible_version: options.minCompatibleVersion,
    release_date: new Date(options.nowMillis).toISOString(),
    expires: new Date(options.nowMillis + options.expiresDays * 86_400_000).toISOString(),
    release_notes: options.notes,
    image: { url: imageName, size: fs.statSync(options.osImage).size, sha256: sha256File(options.osImage) },
    deltas,
    signing_key: { id: key.id, development: key.development }
  })
  const bytes = Release.encode(metadata)
  fs.writeFileSync(path.join(dir, "latest.json"), bytes)
  fs.writeFileSync(path.join(dir, "latest.json.sig"), Signing.sign(bytes, key.privateKey))
  return { dir, metadata, key }
}

if (import.meta.main) {
  const { values } = parseArgs({
    options: {
      out: { type: "string" },
      channel: { type: "string", default: "stable" },
      "expires-days": { type: "string", default: "30" },
      "min-compatible": { type: "string", default: "0.1.0" },
      notes: { type: "string", default: "" },
      "delta-from": { type: "string", multiple: true, default: [] }
    }
  })
  if (values.out === undefined) {
    console.error("usage: node images/src/release.ts --out DIR [--channel stable] [--expires-days 30] [--min-compatible 0.1.0] [--notes TEXT]")
    process.exit(2)
  }
  const image = ensureImage()
  const version = process.env["KEELOS_VERSION"] ?? "0.1.0"
  // --delta-from VERSION=IMAGE: a patch from that release's OS image.
  const deltas = values["delta-from"].map((spec) => {
    const [fromVersion, fromImage] = spec.split("=", 2)
    if (fromVersion === undefined || fromImage === undefined || !fs.existsSync(fromImage)) {
      console.error(`--delta-from ${spec}: give VERSION=PATH of an earlier release's os.img`)
      process.exit(2)
    }
    return { fromVersion, fromImage }
  })
  const result = publish({
    osImage: image.osImage, version, out: values.out, channel: values.channel, arch: "amd64",
    minCompatibleVersion: values["min-compatible"], expiresDays: Number(values["expires-days"]), notes: values.notes, nowMillis: Date.now(), deltas
  })
  const patches = result.metadata.deltas.map((d) => `, delta-${d.from_version}.bsdiff (${d.size} bytes)`).join("")
  console.log(`published ${version} to ${result.dir}: latest.json, latest.json.sig, os-${version}.img${patches}; signed with ${result.key.development ? "the DEVELOPMENT key" : "key"} ${result.key.id}`)
}
