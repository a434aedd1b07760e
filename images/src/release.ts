/**
 * Publishing a built image as an update: `{out}/{channel}/{arch}/latest.json`, its Ed25519 `.sig`,
 * and the image beside them as `os-{version}.img`, for an HTTP channel (DESIGN §4). The metadata is
 * dated when it is signed (not when the image was built) and expires `expiresDays` later, so a
 * channel re-signs fresh metadata without rebuilding. `node images/src/release.ts --out DIR
 * [--channel stable] [--expires-days 30] [--min-compatible 0.1.0] [--notes TEXT]
 * [--delta-from VERSION=PATH/os.img ...] [--delta-format tree|bsdiff]`: deltas are content deltas
 * (KEELTD01) unless told otherwise.
 */
import { execFileSync } from "node:child_process"
import * as fs from "node:fs"
import * as path from "node:path"
import { parseArgs } from "node:util"
import { Schema } from "effect"
import { ReleaseMetadata } from "@keelos/domain"
import { Artifact, Release, Signing } from "@keelos/release"
import { ensureImage } from "./build.ts"
import { signingKey } from "./keys.ts"
import { sha256File } from "./sha256.ts"

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
  /** Earlier releases' images to make patches from, listed in the metadata as `deltas`. */
  readonly deltas?: ReadonlyArray<DeltaSpec>
}

export { sha256File }

/** Where each delta's base comes from, and (for tests) a patch to publish instead of making one. */
export interface DeltaSpec {
  readonly fromImage: string
  readonly fromVersion: string
  /** A content delta (KEELOS's own, the default) or BSDIFF40 (Debian's bsdiff). */
  readonly format?: ReleaseMetadata.DeltaFormat
  readonly patchFile?: string
}

/** Makes (or copies) the patch from `delta.fromImage` to `osImage` into `file`. */
export const makeDelta = (delta: DeltaSpec, osImage: string, file: string) => {
  if (delta.patchFile !== undefined) fs.copyFileSync(delta.patchFile, file)
  else if ((delta.format ?? "tree") === "bsdiff") execFileSync("bsdiff", [delta.fromImage, osImage, file])
  else execFileSync(process.execPath, [path.join(import.meta.dirname, "tree-delta.ts"), "--from", delta.fromImage, "--to", osImage, "--out", file], { stdio: ["ignore", "ignore", "inherit"] })
  return {
    ...((delta.format ?? "tree") === "tree" ? { format: "tree" as const } : {}),
    from_version: delta.fromVersion,
    from_sha256: sha256File(delta.fromImage),
    from_size: fs.statSync(delta.fromImage).size,
    size: fs.statSync(file).size,
    sha256: sha256File(file)
  }
}

/**
 * The deltas `--delta-from VERSION=IMAGE ... --delta-format tree|bsdiff` ask for; a usage error
 * (exit 2) for a spec that is not VERSION=an existing file, or another format.
 */
export const deltaSpecsOf = (specs: ReadonlyArray<string>, formatFlag: string | undefined): Array<DeltaSpec> => {
  const format: ReleaseMetadata.DeltaFormat = formatFlag === "bsdiff" ? "bsdiff" : "tree"
  if ((formatFlag ?? "tree") !== format) {
    console.error(`--delta-format ${formatFlag}: give tree (a content delta) or bsdiff`)
    process.exit(2)
  }
  return specs.map((spec) => {
    const [fromVersion, fromImage] = spec.split("=", 2)
    if (fromVersion === undefined || fromImage === undefined || !fs.existsSync(fromImage)) {
      console.error(`--delta-from ${spec}: give VERSION=PATH of an earlier release's os.img`)
      process.exit(2)
    }
    return { fromVersion, fromImage, format }
  })
}

export const publish = (options: ReleaseOptions) => {
  const key = signingKey()
  const dir = path.join(options.out, options.channel, options.arch)
  fs.mkdirSync(dir, { recursive: true })
  const imageName = `os-${options.version}.img`
  fs.copyFileSync(options.osImage, path.join(dir, imageName))
  const deltas = (options.deltas ?? []).map((delta) => {
    const name = Artifact.deltaFileName(delta.fromVersion, delta.format ?? "tree")
    return { ...makeDelta(delta, options.osImage, path.join(dir, name)), url: name }
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
      "delta-from": { type: "string", multiple: true, default: [] },
      "delta-format": { type: "string", default: "tree" }
    }
  })
  if (values.out === undefined) {
    console.error("usage: node images/src/release.ts --out DIR [--channel stable] [--expires-days 30] [--min-compatible 0.1.0] [--notes TEXT] [--delta-from VERSION=PATH/os.img ...] [--delta-format tree|bsdiff]")
    process.exit(2)
  }
  const deltas = deltaSpecsOf(values["delta-from"], values["delta-format"])
  const image = ensureImage()
  const version = process.env["KEELOS_VERSION"] ?? "0.1.0"
  const result = publish({
    osImage: image.osImage, version, out: values.out, channel: values.channel, arch: "amd64",
    minCompatibleVersion: values["min-compatible"], expiresDays: Number(values["expires-days"]), notes: values.notes, nowMillis: Date.now(), deltas
  })
  const patches = result.metadata.deltas.map((d) => `, ${d.url} (${d.size} bytes)`).join("")
  console.log(`published ${version} to ${result.dir}: latest.json, latest.json.sig, os-${version}.img${patches}; signed with ${result.key.development ? "the DEVELOPMENT key" : "key"} ${result.key.id}`)
}
