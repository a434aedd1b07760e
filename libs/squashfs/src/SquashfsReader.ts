/**
 * Reads a SquashFS 4.0 image (zlib, as this library and `mksquashfs -comp gzip` write it) through
 * random access: the tree with its metadata, and any range of a file's contents. A node uses it to
 * take unchanged files out of its running image when it rebuilds the next one from a content
 * delta, and tests use it to check what the writer wrote. Every offset and size read from the image
 * is checked before it is used, so a corrupt image fails with a `SquashfsError`; memory is a small
 * cache of decoded blocks.
 */
import { Effect, Stream } from "effect"
import * as Compressor from "./Compressor.ts"
import * as Layout from "./Layout.ts"
import * as SquashfsError from "./SquashfsError.ts"
import type * as Tree from "./Tree.ts"

export interface Source<E> {
  readonly size: number
  readonly read: (offset: number, length: number) => Effect.Effect<Uint8Array, E>
}

export interface FileData {
  readonly blocksStart: number
  readonly blockSizes: ReadonlyArray<number>
  readonly fragment: number
  readonly fragmentOffset: number
}

/** An entry of the image with where its contents are (for regular files). */
export interface Found {
  readonly entry: Tree.Entry
  readonly data?: FileData
}

/** Bounds on what a corrupt image can make the reader allocate. */
const maxListingBytes = 16 << 20
const maxBlocksPerFile = 1 << 22

const corrupt = (detail: string) => SquashfsError.make("read", "Corrupt", detail)

const decoder = new TextDecoder("utf-8", { fatal: false })

interface Listed {
  readonly name: string
  readonly ref: bigint
  readonly type: number
}

/** A bounded cache: the least recently used entry leaves when a new one would exceed `limit`. */
class Cache<V> {
  private readonly map = new Map<number, V>()
  private readonly limit: number
  constructor(limit: number) {
    this.limit = limit
  }
  get(key: number): V | undefined {
    const value = this.map.get(key)
    if (value !== undefined) {
      // Most recently used last, so the oldest unused entry is the one that leaves.
      this.map.delete(key)
      this.map.set(key, value)
    }
    return value
  }
  set(key: number, value: V): void {
    if (this.map.size >= this.limit) this.map.delete(this.map.keys().next().value!)
    this.map.set(key, value)
  }
}

export interface SquashfsReader<E> {
  readonly superblock: Layout.Superblock
  /** The inode a reference points at, as an entry at `path`. */
  readonly inode: (ref: bigint, path: string) => Effect.Effect<Found & { readonly listing?: Listing }, SquashfsError.SquashfsError | E>
  /** Every entry of the image, the root first, each directory before what it holds. */
  readonly entries: (limit?: number) => Effect.Effect<Array<Found>, SquashfsError.SquashfsError | E>
  /** `length` bytes of a file from `offset`. */
  readonly read: (found: Found, offset: number, length: number) => Effect.Effect<Uint8Array, SquashfsError.SquashfsError | E>
  /** A file's contents, a block at a time. */
  readonly stream: (found: Found) => Stream.Stream<Uint8Array, SquashfsError.SquashfsError | E>
  /** A file's blocks as stored (compressed), when it has no tail in a fragment; undefined otherwise. */
  readonly storedBlocks: (found: Found) => Stream.Stream<{ readonly stored: Uint8Array; readonly size: number }, SquashfsError.SquashfsError | E> | undefined
}

interface Listing {
  readonly block: number
  readonly offset: number
  readonly size: number
}

export const open = <E>(source: Source<E>, compressor: Compressor.Compressor = Compressor.zlib): Effect.Effect<SquashfsReader<E>, SquashfsError.SquashfsError | E> =>
  Effect.gen(function*() {
    const head = yield* source.read(0, Layout.superblockSize)
    const superblock = Layout.decodeSuperblock(head)
    if (typeof superblock === "string") return yield* SquashfsError.make("read", "Malformed", superblock)
    if (superblock.compression !== compressor.id) return yield* SquashfsError.make("read", "Unsupported", `compression ${superblock.compression}; this reader reads ${compressor.id} (zlib)`)
    if (superblock.bytesUsed > BigInt(source.size)) return yield* corrupt(`the image says it uses ${superblock.bytesUsed} bytes; there are ${source.size}`)
    const used = superblock.bytesUsed
    for (const table of [superblock.inodeTableStart, superblock.directoryTableStart, superblock.idTableStart]) {
      if (table >= used) return yield* corrupt(`a table starts at ${table}, past the ${used} bytes used`)
    }
    return make(source, superblock, compressor)
  })

const make = <E>(source: Source<E>, superblock: Layout.Superblock, compressor: Compressor.Compressor): SquashfsReader<E> => {
  const metadata = new Cache<{ readonly data: Uint8Array; readonly next: number }>(64)
  const blocks = new Cache<Uint8Array>(32)
  let fragments: ReadonlyArray<{ readonly start: number; readonly size: number }> | undefined




  const readExactly = (offset: number, length: number): Effect.Effect<Uint8Array, SquashfsError.SquashfsError | E> => {
    if (offset < 0 || length < 0 || offset + length > Number(superblock.bytesUsed)) {
      return Effect.fail(corrupt(`a read of ${length} bytes at ${offset} leaves the image`))
    }
    return Effect.flatMap(source.read(offset, length), (bytes) =>
      bytes.length === length ? Effect.succeed(bytes) : Effect.fail(corrupt(`the image ends inside a block at ${offset}`)))
  }

  /** One metadata block at an absolute offset: its contents and where the next block starts. */
  const metadataBlock = (at: number): Effect.Effect<{ readonly data: Uint8Array; readonly next: number }, SquashfsError.SquashfsError | E> => {
    const cached = metadata.get(at)
    if (cached) return Effect.succeed(cached)
    return Effect.gen(function*() {
      const header = yield* readExactly(at, 2)
      const word = header[0]! | (header[1]! << 8)
      const length = word & ~Layout.metadataUncompressed
      if (length === 0 || length > Layout.metadataSize) return yield* corrupt(`a metadata block at ${at} claims ${length} bytes`)
      const stored = yield* readExactly(at + 2, length)
      const data = word & Layout.metadataUncompressed ? stored : yield* decompress(stored, Layout.metadataSize, at)
      const block = { data, next: at + 2 + length }
      metadata.set(at, block)
      return block
    })
  }

  const decompress = (stored: Uint8Array, maxSize: number, at: number): Effect.Effect<Uint8Array, SquashfsError.SquashfsError> => {
    return Effect.try({
      try: () => compressor.decompress(stored, maxSize),
      catch: () => corrupt(`the block at ${at} does not decompress`)
    })
  }

  /** `length` bytes of a metadata table from a block (relative to the table) and an offset in it. */
  const metadataBytes = (table: bigint, block: number, offset: number, length: number): Effect.Effect<Uint8Array, SquashfsError.SquashfsError | E> => {
    return Effect.gen(function*() {
      const out = new Uint8Array(length)
      let at = Number(table) + block
      let skip = offset
      let got = 0
      while (got < length) {
        const { data, next } = yield* metadataBlock(at)
        if (skip >= data.length) {
          // An offset past this block continues in the next one (an inode's body after its header).
          if (skip > Layout.metadataSize * 2) return yield* corrupt(`an offset of ${offset} inside a metadata table`)
          skip -= data.length
          at = next
          continue
        }
        const n = Math.min(length - got, data.length - skip)
        out.set(data.subarray(skip, skip + n), got)
        got += n
        skip = 0
        at = next
        if (got < length && at >= Number(superblock.bytesUsed)) return yield* corrupt("a metadata table runs past the image")
      }
      return out
    })
  }

  let ids: ReadonlyArray<number> | undefined

  const idTable = (): Effect.Effect<ReadonlyArray<number>, SquashfsError.SquashfsError | E> => {
    if (ids) return Effect.succeed(ids)
    return Effect.gen(function*() {
      const count = superblock.idCount
      const blocks = Math.ceil((count * 4) / Layout.metadataSize)
      const indexBytes = yield* readExactly(Number(superblock.idTableStart), blocks * 8)
      const index = new DataView(indexBytes.buffer, indexBytes.byteOffset, indexBytes.byteLength)
      const list: Array<number> = []
      for (let b = 0; b < blocks; b++) {
        const inBlock = Math.min(count - b * 2048, 2048)
        const bytes = yield* metadataBytes(0n, Number(index.getBigUint64(b * 8, true)), 0, inBlock * 4)
        const view = new DataView(bytes.buffer)
        for (let i = 0; i < inBlock; i++) list.push(view.getUint32(i * 4, true))
      }
      ids = list
      return list
    })
  }

  const fragmentTable = (): Effect.Effect<ReadonlyArray<{ readonly start: number; readonly size: number }>, SquashfsError.SquashfsError | E> => {
    if (fragments) return Effect.succeed(fragments)
    return Effect.gen(function*() {
      const count = superblock.fragmentCount
      const blocks = Math.ceil((count * 16) / Layout.metadataSize)
      const indexBytes = yield* readExactly(Number(superblock.fragmentTableStart), blocks * 8)
      const index = new DataView(indexBytes.buffer, indexBytes.byteOffset, indexBytes.byteLength)
      const list: Array<{ start: number; size: number }> = []
      for (let b = 0; b < blocks; b++) {
        const inBlock = Math.min(count - b * 512, 512)
        const bytes = yield* metadataBytes(0n, Number(index.getBigUint64(b * 8, true)), 0, inBlock * 16)
        const view = new DataView(bytes.buffer)
        for (let i = 0; i < inBlock; i++) list.push({ start: Number(view.getBigUint64(i * 16, true)), size: view.getUint32(i * 16 + 8, true) })
      }
      fragments = list
      return list
    })
  }

  /** The inode a reference points at, as an entry at `path`. */
  const inode = (ref: bigint, path: string): Effect.Effect<Found & { readonly listing?: { readonly block: number; readonly offset: number; readonly size: number } }, SquashfsError.SquashfsError | E> => {
    return Effect.gen(function*() {
      const table = superblock.inodeTableStart
      const block = Layout.refBlock(ref)
      const offset = Layout.refOffset(ref)
      const head = new DataView((yield* metadataBytes(table, block, offset, 16)).buffer)
      const type = head.getUint16(0, true)
      const ids = yield* idTable()
      const uid = ids[head.getUint16(4, true)]
      const gid = ids[head.getUint16(6, true)]
      if (uid === undefined || gid === undefined) return yield* corrupt(`"${path}" names an owner the id table does not have`)
      const common = { path, mode: head.getUint16(2, true), uid, gid, mtime: head.getUint32(8, true) }
      const body = (length: number) => Effect.map(metadataBytes(table, block, offset + 16, length), (bytes) => new DataView(bytes.buffer))
      const blockCount = (size: number, fragment: number) =>
        fragment === Layout.noFragment ? Math.ceil(size / superblock.blockSize) : Math.floor(size / superblock.blockSize)
      switch (type) {
        case Layout.inodeType.dir: {
          const view = yield* body(16)
          return { entry: { ...common, kind: "dir" }, listing: { block: view.getUint32(0, true), size: view.getUint16(8, true), offset: view.getUint16(10, true) } }
        }
        case Layout.inodeType.ldir: {
          const view = yield* body(24)
          return { entry: { ...common, kind: "dir" }, listing: { size: view.getUint32(4, true), block: view.getUint32(8, true), offset: view.getUint16(18, true) } }
        }
        case Layout.inodeType.file:
        case Layout.inodeType.lfile: {
          const basic = type === Layout.inodeType.file
          const view = yield* body(basic ? 16 : 40)
          const blocksStart = basic ? view.getUint32(0, true) : Number(view.getBigUint64(0, true))
          const size = basic ? view.getUint32(12, true) : Number(view.getBigUint64(8, true))
          const fragment = basic ? view.getUint32(4, true) : view.getUint32(28, true)
          const fragmentOffset = basic ? view.getUint32(8, true) : view.getUint32(32, true)
          const count = blockCount(size, fragment)
          if (count > maxBlocksPerFile) return yield* corrupt(`"${path}" claims ${size} bytes`)
          const sizes = new DataView((yield* metadataBytes(table, block, offset + 16 + (basic ? 16 : 40), count * 4)).buffer)
          const blockSizes = Array.from({ length: count }, (_, i) => sizes.getUint32(i * 4, true))
          return { entry: { ...common, kind: "file", size }, data: { blocksStart, blockSizes, fragment, fragmentOffset } }
        }
        case Layout.inodeType.symlink:
        case 10: {
          const view = yield* body(8)
          const length = view.getUint32(4, true)
          if (length > 4095) return yield* corrupt(`"${path}" is a symlink of ${length} bytes`)
          const target = decoder.decode(yield* metadataBytes(table, block, offset + 24, length))
          return { entry: { ...common, kind: "symlink", target } }
        }
        case Layout.inodeType.blockdev:
        case Layout.inodeType.chardev:
        case 11:
        case 12: {
          const view = yield* body(8)
          const device = Layout.decodeDevice(view.getUint32(4, true))
          const kind = type === Layout.inodeType.blockdev || type === 11 ? "blockdev" : "chardev"
          return { entry: { ...common, kind, ...device } }
        }
        case Layout.inodeType.fifo:
        case 13:
          return { entry: { ...common, kind: "fifo" } }
        case Layout.inodeType.socket:
        case 14:
          return { entry: { ...common, kind: "socket" } }
        default:
          return yield* corrupt(`"${path}" has inode type ${type}`)
      }
    })
  }

  /** A directory's entries from its listing. */
  const list = (listing: { readonly block: number; readonly offset: number; readonly size: number }, path: string): Effect.Effect<Array<Listed>, SquashfsError.SquashfsError | E> => {
    return Effect.gen(function*() {
      if (listing.size < 3 || listing.size > maxListingBytes) return yield* corrupt(`directory "${path}" has size ${listing.size}`)
      const bytes = yield* metadataBytes(superblock.directoryTableStart, listing.block, listing.offset, listing.size - 3)
      const view = new DataView(bytes.buffer)
      const out: Array<Listed> = []
      let at = 0
      while (at < bytes.length) {
        if (at + 12 > bytes.length) return yield* corrupt(`directory "${path}" ends inside a header`)
        const count = view.getUint32(at, true) + 1
        const start = view.getUint32(at + 4, true)
        if (count > Layout.directoryHeaderEntries) return yield* corrupt(`directory "${path}" has a header of ${count} entries`)
        at += 12
        for (let i = 0; i < count; i++) {
          if (at + 8 > bytes.length) return yield* corrupt(`directory "${path}" ends inside an entry`)
          const offset = view.getUint16(at, true)
          const type = view.getUint16(at + 4, true)
          const nameLength = view.getUint16(at + 6, true) + 1
          if (at + 8 + nameLength > bytes.length) return yield* corrupt(`directory "${path}" ends inside a name`)
          const name = decoder.decode(bytes.subarray(at + 8, at + 8 + nameLength))
          if (name.includes("/") || name === "." || name === "..") return yield* corrupt(`directory "${path}" holds the name "${name}"`)
          out.push({ name, ref: Layout.inodeRef(start, offset), type })
          at += 8 + nameLength
        }
      }
      return out
    })
  }

  /** Every entry of the image, the root first, each directory before what it holds. */
  const entries = (limit = 1_000_000): Effect.Effect<Array<Found>, SquashfsError.SquashfsError | E> => {
    return Effect.gen(function*() {
      const out: Array<Found> = []
      const pending: Array<{ readonly ref: bigint; readonly path: string; readonly depth: number }> = [{ ref: superblock.rootInode, path: "", depth: 0 }]
      for (let next = 0; next < pending.length; next++) {
        const { depth, path, ref } = pending[next]!
        const found = yield* inode(ref, path)
        out.push({ entry: found.entry, ...(found.data ? { data: found.data } : {}) })
        if (out.length > limit) return yield* corrupt(`more than ${limit} entries`)
        if (found.listing) {
          if (depth > 256) return yield* corrupt(`directories nested deeper than 256 at "${path}"`)
          for (const child of yield* list(found.listing, path)) {
            pending.push({ ref: child.ref, path: path === "" ? child.name : `${path}/${child.name}`, depth: depth + 1 })
          }
        }
      }
      return out
    })
  }

  /** Where block `index` of a file is, how it is stored, and how many bytes it decodes to. */
  const dataBlock = (data: FileData, size: number, index: number): Effect.Effect<Uint8Array, SquashfsError.SquashfsError | E> => {
    return Effect.gen(function*() {
      const blockSize = superblock.blockSize
      const expected = Math.min(blockSize, size - index * blockSize)
      if (index >= data.blockSizes.length) {
        // The tail lives in a fragment block.
        const fragments = yield* fragmentTable()
        const fragment = fragments[data.fragment]
        if (fragment === undefined) return yield* corrupt(`a file names fragment ${data.fragment} of ${fragments.length}`)
        const whole = yield* stored(fragment.start, fragment.size, blockSize)
        if (data.fragmentOffset + expected > whole.length) return yield* corrupt("a file's tail lies outside its fragment")
        return whole.subarray(data.fragmentOffset, data.fragmentOffset + expected)
      }
      let at = data.blocksStart
      for (let i = 0; i < index; i++) at += data.blockSizes[i]! & ~Layout.dataUncompressed
      const word = data.blockSizes[index]!
      if (word === 0) return new Uint8Array(expected)
      const block = yield* stored(at, word, blockSize)
      if (block.length !== expected) return yield* corrupt(`block ${index} of a file decodes to ${block.length} bytes, not ${expected}`)
      return block
    })
  }

  const stored = (at: number, word: number, blockSize: number): Effect.Effect<Uint8Array, SquashfsError.SquashfsError | E> => {
    const cached = blocks.get(at)
    if (cached) return Effect.succeed(cached)
    const length = word & ~Layout.dataUncompressed
    if (length > blockSize) return Effect.fail(corrupt(`a block at ${at} claims ${length} bytes`))
    return Effect.gen(function*() {
      const raw = yield* readExactly(at, length)
      const block = word & Layout.dataUncompressed ? raw : yield* decompress(raw, blockSize, at)
      blocks.set(at, block)
      return block
    })
  }

  /** `length` bytes of a file from `offset`. */
  const read = (found: Found, offset: number, length: number): Effect.Effect<Uint8Array, SquashfsError.SquashfsError | E> => {
    return Effect.gen(function*() {
      const { data, entry } = found
      if (entry.kind !== "file" || data === undefined) return yield* SquashfsError.make("read", "Malformed", `"${entry.path}" is not a regular file`)
      const end = Math.min(entry.size, offset + length)
      const out = new Uint8Array(Math.max(0, end - offset))
      const blockSize = superblock.blockSize
      let at = offset
      while (at < end) {
        const index = Math.floor(at / blockSize)
        const block = yield* dataBlock(data, entry.size, index)
        const inBlock = at - index * blockSize
        const n = Math.min(end - at, block.length - inBlock)
        out.set(block.subarray(inBlock, inBlock + n), at - offset)
        at += n
      }
      return out
    })
  }

  /** A file's contents, a block at a time. */
  const stream = (found: Found): Stream.Stream<Uint8Array, SquashfsError.SquashfsError | E> => {
    const size = found.entry.kind === "file" ? found.entry.size : 0
    const blockSize = superblock.blockSize
    return Stream.mapEffect(Stream.range(0, Math.ceil(size / blockSize) - 1), (index) => read(found, index * blockSize, blockSize))
  }
  const storedBlocks = (found: Found) => {
    const data = found.data
    if (found.entry.kind !== "file" || data === undefined || data.fragment !== Layout.noFragment) return undefined
    let at = data.blocksStart
    return Stream.mapEffect(Stream.fromIterable(data.blockSizes), (size) => {
      const length = size & ~Layout.dataUncompressed
      if (length > superblock.blockSize) return Effect.fail(corrupt(`a block at ${at} claims ${length} bytes`))
      const from = at
      at += length
      return Effect.map(readExactly(from, length), (stored) => ({ stored, size }))
    })
  }

  return { superblock, inode, entries, read, stream, storedBlocks }
}
