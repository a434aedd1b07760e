/**
 * Content deltas ("KEELTD01"): the next image described as its tree, each file either taken
 * whole from the running image, patched from one of its files (Keeldiff) or carried new, so the
 * download is close to what really changed. The node rebuilds the image by running the same
 * SquashFS writer the build ran (same code, same Node, same zlib), reading old files out of its
 * active slot; the result is a normal SquashFS image that must hash to the signed SHA-256. A delta
 * names the writer fingerprint it needs, so a node whose writer would write other bytes refuses it
 * (and the engine installs the full image) instead of producing a slot that fails verification.
 *
 * Layout: magic, u32 header frame size, zstd frame of the header JSON, then the file payloads the
 * header points at (offsets relative to the end of the header frame).
 */
import { createHash } from "node:crypto"
import * as Zlib from "node:zlib"
import { Effect, Schema, Stream } from "effect"
import { Compressor, ReplayingCompressor, type SquashfsError, SquashfsReader, SquashfsWriter, type Tree } from "@keelos/squashfs"
import * as Keeldiff from "./Keeldiff.ts"
import * as Matcher from "./Matcher.ts"

export const magic = new TextEncoder().encode("KEELTD01")
const maxHeaderBytes = 16 << 20
/** Zeros after the filesystem an image may carry (a slot-sized image's tail). */
const maxPaddingBytes = 64 << 20
const zeros = new Uint8Array(1 << 20)

export class TreeDeltaError extends Schema.TaggedError<TreeDeltaError>()("TreeDeltaError", {
  reason: Schema.Literals(["Malformed", "Incompatible", "BaseMismatch", "NotReproducible"]),
  detail: Schema.String
}) {
  override get message(): string {
    return `content delta: ${this.reason}: ${this.detail}`
  }
}

const fail = (reason: TreeDeltaError["reason"], detail: string) => new TreeDeltaError({ reason, detail })

const Count = Schema.Int.check(Schema.isGreaterThanOrEqualTo(0))
const Owned = { path: Schema.String, mode: Count, uid: Count, gid: Count, mtime: Count }
/** A file's contents: an old file as it is, or a patch (from an old file, or from nothing). */
const Content = Schema.Union([
  // `raw`: the old file's compressed blocks are exactly the new image's, so they are copied as stored.
  Schema.Struct({ copy: Schema.String, raw: Schema.optionalKey(Schema.Boolean) }),
  Schema.Struct({ base: Schema.NullOr(Schema.String), offset: Count, length: Count })
])
const Entry = Schema.Union([
  Schema.Struct({ ...Owned, kind: Schema.Literal("dir") }),
  Schema.Struct({ ...Owned, kind: Schema.Literal("file"), size: Count, content: Content }),
  Schema.Struct({ ...Owned, kind: Schema.Literal("symlink"), target: Schema.String }),
  Schema.Struct({ ...Owned, kind: Schema.Literals(["blockdev", "chardev"]), major: Count, minor: Count }),
  Schema.Struct({ ...Owned, kind: Schema.Literals(["fifo", "socket"]) })
])
const Image = Schema.Struct({ sha256: Schema.String, size: Count })

/** The patch format this code writes and reads: 2 since Keeldiff's diff bytes became sparse. */
export const format = 2

export const Header = Schema.Struct({
  format: Schema.Literal(format),
  from: Image,
  to: Image,
  writer: Schema.Struct({ fingerprint: Schema.String, blockSize: Count, mkfsTime: Count }),
  entries: Schema.Array(Entry)
})
export type Header = typeof Header.Type
type HeaderEntry = Header["entries"][number]

const sha256 = (bytes: Uint8Array) => createHash("sha256").update(bytes).digest("hex")
const normalized = (path: string) => path.replace(/[0-9]+/g, "#")
const basename = (path: string) => path.slice(path.lastIndexOf("/") + 1)

export interface Stats {
  readonly files: number
  readonly copied: number
  readonly patched: number
  readonly added: number
  /** New file bytes the delta carries as patches or new files. */
  readonly changedBytes: number
}

export interface GenerateOptions {
  /** zstd level of the new content the patches carry (19 unless told). */
  readonly level?: number
  /** zstd level of the patches' control numbers and sparse diff bytes (Keeldiff's default unless told). */
  readonly diffLevel?: number
  readonly compressor?: Compressor.Compressor
  /** For the rebuild that proves the delta. */
  readonly parallelBlocks?: number
  /**
   * The proof's rebuild compresses one block in this many again and compares it with the new
   * image's (8 unless told; 1 compresses every block, as a node does).
   */
  readonly checkEvery?: number
}

/** The image a reader reads, whole: its SHA-256 and size. */
export interface Identity {
  readonly sha256: string
  readonly size: number
}

const readWhole = <E>(reader: SquashfsReader.SquashfsReader<E>, found: SquashfsReader.Found) =>
  reader.read(found, 0, found.entry.kind === "file" ? found.entry.size : 0)

/** The stored (compressed) blocks of two files, both read, compared; false when either has a fragment. */
const sameStored = <E1, E2>(old: SquashfsReader.SquashfsReader<E1>, a: SquashfsReader.Found, next: SquashfsReader.SquashfsReader<E2>, b: SquashfsReader.Found) =>
  Effect.gen(function*() {
    const left = old.storedBlocks(a)
    const right = next.storedBlocks(b)
    if (left === undefined || right === undefined || a.data?.blockSizes.length !== b.data?.blockSizes.length) return false
    if (!a.data!.blockSizes.every((size, i) => size === b.data!.blockSizes[i])) return false
    const hash = (blocks: Stream.Stream<{ readonly stored: Uint8Array }, unknown>) =>
      Stream.runFold(blocks, () => createHash("sha256"), (h, block) => h.update(block.stored)).pipe(Effect.map((h) => h.digest("hex")))
    return (yield* hash(left)) === (yield* hash(right))
  })

/** Picks the old file a new one is most likely a version of: same path, same path but numbers, same name. */
const baseFinder = (olds: ReadonlyArray<SquashfsReader.Found>) => {
  const byPath = new Map<string, SquashfsReader.Found>()
  const byNormal = new Map<string, Array<SquashfsReader.Found>>()
  const byName = new Map<string, Array<SquashfsReader.Found>>()
  for (const found of olds) {
    byPath.set(found.entry.path, found)
    for (const [map, key] of [[byNormal, normalized(found.entry.path)], [byName, basename(found.entry.path)]] as const) {
      const list = map.get(key)
      if (list) list.push(found)
      else map.set(key, [found])
    }
  }
  const closest = (list: ReadonlyArray<SquashfsReader.Found> | undefined, size: number) =>
    list?.reduce<SquashfsReader.Found | undefined>((best, found) => {
      const distance = (f: SquashfsReader.Found) => Math.abs((f.entry.kind === "file" ? f.entry.size : 0) - size)
      return best === undefined || distance(found) < distance(best) ? found : best
    }, undefined)
  return (path: string, size: number) => byPath.get(path) ?? closest(byNormal.get(normalized(path)), size) ?? closest(byName.get(basename(path)), size)
}

const encodeHeader = (header: Header, payload: Uint8Array): Uint8Array => {
  const frame = Zlib.zstdCompressSync(new TextEncoder().encode(JSON.stringify(header)), { params: { [Zlib.constants.ZSTD_c_compressionLevel]: 19, [Zlib.constants.ZSTD_c_checksumFlag]: 1 } })
  const out = new Uint8Array(magic.length + 4 + frame.length + payload.length)
  out.set(magic)
  new DataView(out.buffer).setUint32(magic.length, frame.length, true)
  out.set(frame, magic.length + 4)
  out.set(payload, magic.length + 4 + frame.length)
  return out
}

/**
 * The content delta from the image `oldImage` to the image `nextImage` (both written by this
 * writer), proved before it is returned by rebuilding `nextImage` from it and `oldImage`. The
 * rebuild writes the new image's own stored bytes for the content it has read there, and
 * compresses again the rest and a sample of that (`checkEvery`), so it checks every byte of the
 * layout and of every file, and that this zlib still writes the image's blocks.
 */
export const generate = <E1, E2>(
  oldImage: SquashfsReader.Source<E1>,
  nextImage: SquashfsReader.Source<E2>,
  identity: { readonly from: Identity; readonly to: Identity },
  options: GenerateOptions = {}
) =>
  Effect.gen(function*() {
    const compressor = options.compressor ?? Compressor.zlib
    const replay = ReplayingCompressor.make(compressor, { checkEvery: options.checkEvery ?? 8 })
    const old = yield* SquashfsReader.open(oldImage, compressor)
    const next = yield* SquashfsReader.open(nextImage, replay.recorder)
    const olds = (yield* old.entries()).filter((found) => found.entry.kind === "file")
    const bySha = new Map<string, SquashfsReader.Found>()
    for (const found of olds) {
      const digest = sha256(yield* readWhole(old, found))
      if (!bySha.has(digest)) bySha.set(digest, found)
    }
    const findBase = baseFinder(olds)
    const encodeOptions: Keeldiff.EncodeOptions = { level: options.level ?? 19, ...(options.diffLevel === undefined ? {} : { diffLevel: options.diffLevel }) }
    const payloads: Array<Uint8Array> = []
    let payloadSize = 0
    let copied = 0
    let patched = 0
    let added = 0
    let changedBytes = 0
    const entries: Array<HeaderEntry> = []
    for (const found of yield* next.entries()) {
      const entry = found.entry
      if (entry.kind !== "file") {
        entries.push(entry)
        continue
      }
      const bytes = yield* readWhole(next, found)
      const same = bySha.get(sha256(bytes))
      if (same !== undefined) {
        const raw = yield* sameStored(old, same, next, found)
        entries.push({ ...entry, content: raw ? { copy: same.entry.path, raw } : { copy: same.entry.path } })
        copied++
        continue
      }
      const base = findBase(entry.path, entry.size)
      let patch: Uint8Array | undefined
      if (base !== undefined) {
        const baseBytes = yield* readWhole(old, base)
        patch = Keeldiff.encode(baseBytes, bytes, Matcher.runs(baseBytes, bytes), encodeOptions)
      }
      let from: string | null = base?.entry.path ?? null
      if (patch === undefined || patch.length > bytes.length / 4) {
        const whole = Keeldiff.encode(new Uint8Array(0), bytes, [], encodeOptions)
        if (patch === undefined || whole.length <= patch.length) {
          patch = whole
          from = null
        }
      }
      if (from === null) added++
      else patched++
      changedBytes += bytes.length
      entries.push({ ...entry, content: { base: from, offset: payloadSize, length: patch.length } })
      payloads.push(patch)
      payloadSize += patch.length
    }
    const payload = new Uint8Array(payloadSize)
    let at = 0
    for (const part of payloads) {
      payload.set(part, at)
      at += part.length
    }
    const header: Header = {
      format,
      from: identity.from,
      to: identity.to,
      writer: { fingerprint: compressor.fingerprint, blockSize: next.superblock.blockSize, mkfsTime: next.superblock.mkfsTime },
      entries
    }
    const delta = encodeHeader(header, payload)
    // The proof a node can rebuild the image: rebuild it here, from the old image and the delta.
    const image = SquashfsWriter.memorySink()
    const rebuilt = yield* apply(memory(delta), old, image.sink, { compressor: replay.replayer, ...(options.parallelBlocks === undefined ? {} : { parallelBlocks: options.parallelBlocks }) })
    const digest = sha256(image.bytes().subarray(0, rebuilt.size))
    if (rebuilt.size !== identity.to.size || digest !== identity.to.sha256) {
      const { checked, differed } = replay.counts()
      const why = differed > 0 ? `${differed} of the ${checked} blocks compressed again differ from the image's` : "was it written by this writer?"
      return yield* fail("NotReproducible", `the delta rebuilds ${rebuilt.size} bytes hashing to ${digest}, not the image (${identity.to.size} bytes, ${identity.to.sha256}): ${why}`)
    }
    const stats: Stats = { files: copied + patched + added, copied, patched, added, changedBytes }
    return { delta, stats, proof: replay.counts() }
  })

/** Bytes in memory as random access. */
export const memory = (bytes: Uint8Array): Keeldiff.Source<never> => ({
  size: bytes.length,
  read: (offset, length) => Effect.succeed(bytes.subarray(offset, Math.min(bytes.length, offset + length)))
})

/** The delta's header, checked, and where its payloads start. */
export const readHeader = <E>(delta: Keeldiff.Source<E>) =>
  Effect.gen(function*() {
    if (delta.size < magic.length + 4) return yield* fail("Malformed", "shorter than a content delta's header")
    const head = yield* delta.read(0, magic.length + 4)
    if (head.length < magic.length + 4 || !magic.every((byte, i) => head[i] === byte)) return yield* fail("Malformed", "not a content delta (no KEELTD01 magic)")
    const frameSize = new DataView(head.buffer, head.byteOffset, head.byteLength).getUint32(magic.length, true)
    if (magic.length + 4 + frameSize > delta.size) return yield* fail("Malformed", `a header of ${frameSize} bytes in a delta of ${delta.size}`)
    const frame = yield* delta.read(magic.length + 4, frameSize)
    const json = yield* Effect.try({
      try: () => JSON.parse(new TextDecoder().decode(Zlib.zstdDecompressSync(frame, { maxOutputLength: maxHeaderBytes }))) as unknown,
      catch: () => fail("Malformed", "the header does not decompress to JSON")
    })
    const written = typeof json === "object" && json !== null && "format" in json ? json.format : undefined
    if (typeof written === "number" && written !== format) return yield* fail("Incompatible", `the delta is in format ${written}; this node reads format ${format}`)
    const header = yield* Effect.mapError(Schema.decodeUnknownEffect(Header)(json), (error) => fail("Malformed", `the header: ${error.message.split("\n")[0]}`))
    return { header, payloadStart: magic.length + 4 + frameSize }
  })

export interface ApplyOptions {
  readonly compressor?: Compressor.Compressor
  /** Blocks compressed at once on the thread pool (the writer's option; 1 unless told). */
  readonly parallelBlocks?: number
  readonly onProgress?: (contentBytes: number) => Effect.Effect<void>
}

/**
 * Rebuilds the delta's image into `sink` from the old image's files. Fails with a TreeDeltaError
 * when the delta is malformed, needs another writer, or names old files this image does not have,
 * and with a KeeldiffError or SquashfsError when a patch or the old image is corrupt.
 */
export const apply = <E1, E2, E3>(
  delta: Keeldiff.Source<E1>,
  old: SquashfsReader.SquashfsReader<E2>,
  sink: SquashfsWriter.Sink<E3>,
  options: ApplyOptions = {}
) =>
  Effect.gen(function*() {
    const compressor = options.compressor ?? Compressor.zlib
    const { header, payloadStart } = yield* readHeader(delta)
    if (header.writer.fingerprint !== compressor.fingerprint) {
      return yield* fail("Incompatible", `the image was written with ${header.writer.fingerprint}; this node writes ${compressor.fingerprint}`)
    }
    const olds = new Map<string, SquashfsReader.Found>()
    for (const found of yield* old.entries()) if (found.entry.kind === "file") olds.set(found.entry.path, found)
    const oldFile = (path: string, entry: Tree.File) =>
      Effect.gen(function*() {
        const found = olds.get(path)
        if (found === undefined) return yield* fail("BaseMismatch", `"${entry.path}" is made from "${path}", which the running image does not have`)
        return found
      })
    const payloadSize = delta.size - payloadStart
    const contents = new Map<string, (typeof header.entries)[number] & { readonly kind: "file" }>()
    for (const entry of header.entries) if (entry.kind === "file") contents.set(entry.path, entry)
    const source: SquashfsWriter.Source<E1 | E2 | TreeDeltaError | Keeldiff.KeeldiffError | SquashfsError> = {
      entries: header.entries.map((entry) => {
        if (entry.kind !== "file") return entry
        const { content: _content, ...file } = entry
        return file
      }),
      stored: (entry) => {
        const content = contents.get(entry.path)?.content
        if (content === undefined || !("copy" in content) || content.raw !== true || header.writer.blockSize !== old.superblock.blockSize) return undefined
        const found = olds.get(content.copy)
        return found !== undefined && found.entry.kind === "file" && found.entry.size === entry.size ? old.storedBlocks(found) : undefined
      },
      content: (entry) =>
        Stream.unwrap(Effect.gen(function*() {
          const content = contents.get(entry.path)!.content
          if ("copy" in content) {
            const found = yield* oldFile(content.copy, entry)
            if (found.entry.kind !== "file" || found.entry.size !== entry.size) return yield* fail("BaseMismatch", `"${entry.path}" is "${content.copy}" of the running image, which is not its size`)
            return old.stream(found)
          }
          if (content.offset + content.length > payloadSize) return yield* fail("Malformed", `"${entry.path}"'s patch lies outside the delta`)
          const patch: Keeldiff.Source<E1> = {
            size: content.length,
            read: (offset, length) => delta.read(payloadStart + content.offset + offset, length)
          }
          if (content.base === null) return Keeldiff.stream(patch, { size: 0, read: () => Effect.succeed(new Uint8Array(0)) }, entry.size)
          const base = yield* oldFile(content.base, entry)
          const baseSize = base.entry.kind === "file" ? base.entry.size : 0
          return Keeldiff.stream(patch, { size: baseSize, read: (offset, length) => old.read(base, offset, length) }, entry.size)
        }))
    }
    const result = yield* SquashfsWriter.write(source, sink, {
      mkfsTime: header.writer.mkfsTime,
      blockSize: header.writer.blockSize,
      compressor,
      ...(options.parallelBlocks === undefined ? {} : { parallelBlocks: options.parallelBlocks }),
      ...(options.onProgress ? { onProgress: options.onProgress } : {})
    })
    // An image published padded (to a slot's or a partition's size) is padded here alike.
    const padding = header.to.size - result.size
    if (padding > maxPaddingBytes) return yield* fail("Malformed", `the image is ${header.to.size} bytes, ${padding} more than the filesystem in it`)
    for (let at = result.size; at < header.to.size; at += zeros.length) yield* sink.write(at, zeros.subarray(0, Math.min(zeros.length, header.to.size - at)))
    return { header, size: Math.max(result.size, header.to.size) }
  })
