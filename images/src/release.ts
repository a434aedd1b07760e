/**
 * Publishing a built image as an update: `{out}/{channel}/{arch}/latest.json`, its Ed25519 `.sig`,
 * and the image beside them as `os-{version}.img`, for an HTTP channel (DESIGN §4). The metadata is
 * dated when it is signed (not when the image was built) and expires `expiresDays` later, so a
 * channel re-signs fresh metadata without rebuilding. `node images/src/release.ts --out DIR
 * [--channel stable] [--expires-days 30] [--min-compatible 0.1.0] [--notes TEXT]`.
 */
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
    deltas: [],
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
      notes: { type: "string", default: "" }
    }
  })
  if (values.out === undefined) {
    console.error("usage: node images/src/release.ts --out DIR [--channel stable] [--expires-days 30] [--min-compatible 0.1.0] [--notes TEXT]")
    process.exit(2)
  }
  const image = ensureImage()
  const version = process.env["KEELOS_VERSION"] ?? "0.1.0"
  const result = publish({
    osImage: image.osImage, version, out: values.out, channel: values.channel, arch: "amd64",
    minCompatibleVersion: values["min-compatible"], expiresDays: Number(values["expires-days"]), notes: values.notes, nowMillis: Date.now()
  })
  console.log(`published ${version} to ${result.dir}: latest.json, latest.json.sig, os-${version}.img; signed with ${result.key.development ? "the DEVELOPMENT key" : "key"} ${result.key.id}`)
}
