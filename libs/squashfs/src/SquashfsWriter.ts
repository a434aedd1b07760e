/**
 * Writes a SquashFS 4.0 image from a tree, deterministically: the same entries, contents, block
 * size and compressor always give the same bytes, whatever order the entries come in. That is what
 * lets the image build and a node that rebuilds the next image from a content delta agree bit for
 * bit. The layout is the plain one mksquashfs writes without fragments or xattrs: data blocks
 * after the superblock in tree order, then the inode, directory and id tables; the kernel and
 * GRUB's squash4 read it. Memory is one block, the output buffer and the tables (a few hundred
 * bytes per entry), never a file's contents.
 */
import { Effect, Stream } from "effect"
import * as Compressor from "./Compressor.ts"
import * as Layout from "./Layout.ts"
import { MetadataWriter, Record } from "./MetadataWriter.ts"
import * as SquashfsError from "./SquashfsError.ts"
import * as Tree from "./Tree.ts"

/** A data block as stored: the bytes on disk and the size word the inode lists for it. */
export interface StoredBlock {
  readonly stored: Uint8Array
  readonly size: number
}

export interface Source<E> {
  readonly entries: ReadonlyArray<Tree.Entry>
  /** The bytes of a regular file, exactly `entry.size` of them. */
  readonly content: (entry: Tree.File) => Stream.Stream<Uint8Array, E>
  /**
   * A file's blocks already compressed as this writer would (an unchanged file of an image it
   * wrote, with the same block size and compressor), copied as they are; undefined to compress.
   */
  readonly stored?: (entry: Tree.File) => Stream.Stream<StoredBlock, E> | undefined
}

/** Where the image goes: writes arrive front to back, and the superblock at offset 0 comes last. */
export interface Sink<E> {
  readonly write: (offset: number, bytes: Uint8Array) => Effect.Effect<void, E>
}

/** A sink that keeps the image in memory (small images: tests, the simulator, a delta's self-check). */
export const memorySink = (): { readonly sink: Sink<never>; readonly bytes: () => Uint8Array } => {
  let buffer = new Uint8Array(1 << 20)
  let length = 0
  const sink: Sink<never> = {
    write: (offset, bytes) =>
      Effect.sync(() => {
        if (offset + bytes.length > buffer.length) {
          const grown = new Uint8Array(Math.max(buffer.length * 2, offset + bytes.length))
          grown.set(buffer.subarray(0, length))
          buffer = grown
        }
        buffer.set(bytes, offset)
        length = Math.max(length, offset + bytes.length)
      })
  }
  return { sink, bytes: () => buffer.subarray(0, length) }
}

export interface Options {
  readonly mkfsTime: number
  readonly blockSize?: number
  readonly compressor?: Compressor.Compressor
  /** Called after each file's data is written, with the bytes of content done so far. */
  readonly onProgress?: (contentBytes: number) => Effect.Effect<void>
  /**
   * Blocks compressed at once on the thread pool; 1 (the default) compresses on this thread, which
   * keeps a simulated node's run independent of thread timing. The bytes are the same either way.
   */
  readonly parallelBlocks?: number
}

export interface Result {
  /** The bytes the filesystem uses (the superblock's bytes_used). */
  readonly bytesUsed: number
  /** The image's size: bytes_used padded to 4 KiB, as mksquashfs pads it. */
  readonly size: number
  readonly inodes: number
}

export const defaultBlockSize = 128 * 1024
const outputChunk = 1 << 20
const pad = 4096

interface Node {
  readonly entry: Tree.Entry
  readonly name: Uint8Array
  readonly children: Array<Node>
  number: number
  ref: bigint
  blocksStart: number
  blockSizes: Array<number>
}

const invalid = (detail: string) => SquashfsError.make("write", "InvalidTree", detail)

const validPath = (path: string): boolean =>
  path === "" || (!path.startsWith("/") && !path.endsWith("/") && path.split("/").every((part) => part !== "" && part !== "." && part !== ".."))

/** The entries as a tree with sorted children, or why they are not one. */
const buildTree = (entries: ReadonlyArray<Tree.Entry>): Effect.Effect<Node, SquashfsError.SquashfsError> =>
  Effect.gen(function*() {
    const nodes = new Map<string, Node>()
    for (const entry of entries) {
      if (!validPath(entry.path)) return yield* invalid(`"${entry.path}" is not a path inside the tree`)
      if (nodes.has(entry.path)) return yield* invalid(`"${entry.path}" appears twice`)
      const name = Tree.nameBytes(Tree.basename(entry.path))
      if (name.length > 256) return yield* invalid(`"${entry.path}": a name is at most 256 bytes`)
      if (entry.kind === "file" && (!Number.isSafeInteger(entry.size) || entry.size < 0)) return yield* invalid(`"${entry.path}": size ${entry.size}`)
      nodes.set(entry.path, { entry, name, children: [], number: 0, ref: 0n, blocksStart: 0, blockSizes: [] })
    }
    const root = nodes.get("")
    if (root === undefined || root.entry.kind !== "dir") return yield* invalid("the tree has no root directory (path \"\")")
    for (const node of nodes.values()) {
      if (node === root) continue
      const parent = nodes.get(Tree.parentOf(node.entry.path))
      if (parent === undefined || parent.entry.kind !== "dir") return yield* invalid(`"${node.entry.path}" has no parent directory in the tree`)
      parent.children.push(node)
    }
    for (const node of nodes.values()) node.children.sort((a, b) => Tree.compareNames(a.name, b.name))
    return root
  })

const preOrder = function*(node: Node): Generator<Node> {
  yield node
  for (const child of node.children) yield* preOrder(child)
}

const postOrder = function*(node: Node): Generator<Node> {
  for (const child of node.children) yield* postOrder(child)
  yield node
}

/** Buffers the front-to-back part of the image into large writes. */
class Output<E> {
  private buffer = new Uint8Array(outputChunk)
  private filled = 0
  private bufferStart: number
  private readonly sink: Sink<E>

  constructor(sink: Sink<E>, start: number) {
    this.sink = sink
    this.bufferStart = start
  }

  get offset(): number {
    return this.bufferStart + this.filled
  }

  push(bytes: Uint8Array): Effect.Effect<void, E> {
    if (this.filled + bytes.length <= this.buffer.length) {
      this.buffer.set(bytes, this.filled)
      this.filled += bytes.length
      return Effect.void
    }
    return Effect.andThen(this.flush(), () => {
      if (bytes.length >= this.buffer.length) {
        const at = this.bufferStart
        this.bufferStart += bytes.length
        return this.sink.write(at, bytes)
      }
      this.buffer.set(bytes, 0)
      this.filled = bytes.length
      return Effect.void
    })
  }

  flush(): Effect.Effect<void, E> {
    if (this.filled === 0) return Effect.void
    const bytes = this.buffer.slice(0, this.filled)
    const at = this.bufferStart
    this.bufferStart += this.filled
    this.filled = 0
    return this.sink.write(at, bytes)
  }
}

/** Compresses one data block; stored as is when compression does not make it smaller. */
const dataBlock = (compressor: Compressor.Compressor, raw: Uint8Array, onPool: boolean): Effect.Effect<StoredBlock, SquashfsError.SquashfsError> =>
  Effect.map(
    onPool
      ? Effect.tryPromise({
        try: () => compressor.compressAsync(raw),
        catch: (error) => SquashfsError.make("write", "Malformed", `compressing a block: ${String(error)}`)
      })
      : Effect.sync(() => compressor.compress(raw)),
    (compressed) => compressed.length < raw.length ? { stored: compressed, size: compressed.length } : { stored: raw, size: raw.length | Layout.dataUncompressed }
  )

/** A file's contents cut into blocks of `blockSize` (the last one shorter), checked against its size. */
const blocksOf = <E>(content: Stream.Stream<Uint8Array, E>, entry: Tree.File, blockSize: number): Stream.Stream<Uint8Array, E | SquashfsError.SquashfsError> => {
  let pending = new Uint8Array(blockSize)
  let filled = 0
  let total = 0
  const cut = (chunk: Uint8Array): Array<Uint8Array> => {
    const out: Array<Uint8Array> = []
    let at = 0
    while (at < chunk.length) {
      const n = Math.min(chunk.length - at, blockSize - filled)
      pending.set(chunk.subarray(at, at + n), filled)
      filled += n
      at += n
      if (filled === blockSize) {
        out.push(pending)
        pending = new Uint8Array(blockSize)
        filled = 0
      }
    }
    return out
  }
  return content.pipe(
    Stream.mapEffect((chunk) => {
      total += chunk.length
      return total > entry.size
        ? Effect.fail(SquashfsError.make("write", "SizeMismatch", `"${entry.path}" has more than its ${entry.size} bytes`))
        : Effect.succeed(cut(chunk))
    }),
    Stream.flattenIterable,
    Stream.concat(Stream.suspend(() =>
      total !== entry.size
        ? Stream.fail(SquashfsError.make("write", "SizeMismatch", `"${entry.path}" gave ${total} bytes, not its ${entry.size}`))
        : filled > 0
        ? Stream.make(pending.subarray(0, filled))
        : Stream.empty
    ))
  )
}

const inodeHeader = (record: Record, type: number, node: Node, ids: Map<number, number>) =>
  record.u16(type).u16(node.entry.mode & 0o7777).u16(ids.get(node.entry.uid)!).u16(ids.get(node.entry.gid)!).u32(node.entry.mtime >>> 0).u32(node.number)

export const write = <E, E2>(source: Source<E>, sink: Sink<E2>, options: Options): Effect.Effect<Result, SquashfsError.SquashfsError | E | E2> =>
  Effect.gen(function*() {
    const compressor = options.compressor ?? Compressor.zlib
    const blockSize = options.blockSize ?? defaultBlockSize
    const blockLog = Math.log2(blockSize)
    if (!Number.isInteger(blockLog) || blockLog < 12 || blockLog > 20) return yield* invalid(`block size ${blockSize} is not a power of two from 4 KiB to 1 MiB`)
    const root = yield* buildTree(source.entries)

    // Inode numbers in the order inodes are written (children before their directory, root last),
    // so a directory entry can point at any of them; ids in first-use order.
    let count = 0
    const ids = new Map<number, number>()
    for (const node of postOrder(root)) {
      node.number = ++count
      for (const id of [node.entry.uid, node.entry.gid]) {
        if (!ids.has(id)) ids.set(id, ids.size)
      }
    }
    if (ids.size > 65535) return yield* invalid(`${ids.size} distinct owners; SquashFS keeps at most 65535`)

    // Data blocks of every regular file, in tree order, after the superblock.
    const output = new Output(sink, Layout.superblockSize)
    let contentDone = 0
    const parallel = Math.max(1, options.parallelBlocks ?? 1)
    // One stream of every file's blocks, so the blocks of the next files are read and compressed
    // while the last ones of this file still compress (most files are a block or two); written in
    // order, each file's start before its first block and its end after its last.
    const files = [...preOrder(root)].filter((node): node is Node & { readonly entry: Tree.File } => node.entry.kind === "file")
    type Step =
      | { readonly _tag: "start" | "end"; readonly node: Node & { readonly entry: Tree.File } }
      | { readonly _tag: "raw"; readonly node: Node; readonly raw: Uint8Array }
      | { readonly _tag: "block"; readonly node: Node; readonly block: StoredBlock }
    const steps = Stream.fromIterable(files).pipe(
      Stream.flatMap((node): Stream.Stream<Step, E | SquashfsError.SquashfsError> => {
        const stored = source.stored?.(node.entry)
        const blocks: Stream.Stream<Step, E | SquashfsError.SquashfsError> = stored === undefined
          ? Stream.map(blocksOf(source.content(node.entry), node.entry, blockSize), (raw) => ({ _tag: "raw", node, raw }))
          : Stream.map(stored, (block) => ({ _tag: "block", node, block }))
        const start: Step = { _tag: "start", node }
        const end: Step = { _tag: "end", node }
        return Stream.make(start).pipe(Stream.concat(blocks), Stream.concat(Stream.make(end)))
      }),
      Stream.mapEffect((step): Effect.Effect<Exclude<Step, { readonly _tag: "raw" }>, SquashfsError.SquashfsError> =>
        step._tag === "raw" ? Effect.map(dataBlock(compressor, step.raw, parallel > 1), (block) => ({ _tag: "block", node: step.node, block })) : Effect.succeed(step), { concurrency: parallel })
    )
    yield* Stream.runForEach(steps, (step) => {
      switch (step._tag) {
        case "start":
          step.node.blocksStart = output.offset
          return Effect.void
        case "block":
          step.node.blockSizes.push(step.block.size)
          return output.push(step.block.stored)
        case "end":
          contentDone += step.node.entry.size
          return options.onProgress ? options.onProgress(contentDone) : Effect.void
      }
    })
    yield* output.flush()

    // Inodes and directory listings: a directory's children first, then its listing and inode.
    const inodes = new MetadataWriter(compressor)
    const directories = new MetadataWriter(compressor)
    const parents = new Map<Node, Node>()
    for (const node of preOrder(root)) for (const child of node.children) parents.set(child, node)
    for (const node of postOrder(root)) {
      const at = inodes.position()
      node.ref = Layout.inodeRef(at.block, at.offset)
      const entry = node.entry
      switch (entry.kind) {
        case "dir": {
          const start = directories.position()
          let listing = 0
          let i = 0
          while (i < node.children.length) {
            const first = node.children[i]!
            const firstBlock = Layout.refBlock(first.ref)
            let j = i
            while (
              j < node.children.length && j - i < Layout.directoryHeaderEntries &&
              Layout.refBlock(node.children[j]!.ref) === firstBlock && Math.abs(node.children[j]!.number - first.number) <= 32767
            ) j++
            const header = new Record(12).u32(j - i - 1).u32(firstBlock).u32(first.number).done()
            directories.append(header)
            listing += header.length
            for (let k = i; k < j; k++) {
              const child = node.children[k]!
              const type = child.entry.kind === "dir" ? Layout.inodeType.dir : Layout.inodeType[child.entry.kind]
              const record = new Record(8 + child.name.length)
                .u16(Layout.refOffset(child.ref)).i16(child.number - first.number).u16(type).u16(child.name.length - 1).raw(child.name).done()
              directories.append(record)
              listing += record.length
            }
            i = j
          }
          const size = listing + 3
          const links = 2 + node.children.filter((child) => child.entry.kind === "dir").length
          const parent = node === root ? count + 1 : parents.get(node)!.number
          if (size <= 0xffff) {
            inodes.append(inodeHeader(new Record(32), Layout.inodeType.dir, node, ids).u32(start.block).u32(links).u16(size).u16(start.offset).u32(parent).done())
          } else {
            inodes.append(
              inodeHeader(new Record(40), Layout.inodeType.ldir, node, ids).u32(links).u32(size).u32(start.block).u32(parent).u16(0).u16(start.offset).u32(Layout.noXattr).done()
            )
          }
          break
        }
        case "file": {
          if (node.blocksStart <= 0xffffffff && entry.size <= 0xffffffff) {
            const record = inodeHeader(new Record(32 + 4 * node.blockSizes.length), Layout.inodeType.file, node, ids)
              .u32(node.blocksStart).u32(Layout.noFragment).u32(0).u32(entry.size)
            for (const size of node.blockSizes) record.u32(size)
            inodes.append(record.done())
          } else {
            const record = inodeHeader(new Record(56 + 4 * node.blockSizes.length), Layout.inodeType.lfile, node, ids)
              .u64(BigInt(node.blocksStart)).u64(BigInt(entry.size)).u64(0n).u32(1).u32(Layout.noFragment).u32(0).u32(Layout.noXattr)
            for (const size of node.blockSizes) record.u32(size)
            inodes.append(record.done())
          }
          break
        }
        case "symlink": {
          const target = Tree.nameBytes(entry.target)
          if (target.length === 0 || target.length > 4095) return yield* invalid(`"${entry.path}": a symlink target is 1 to 4095 bytes`)
          inodes.append(inodeHeader(new Record(24 + target.length), Layout.inodeType.symlink, node, ids).u32(1).u32(target.length).raw(target).done())
          break
        }
        case "blockdev":
        case "chardev":
          inodes.append(inodeHeader(new Record(24), Layout.inodeType[entry.kind], node, ids).u32(1).u32(Layout.encodeDevice(entry.major, entry.minor)).done())
          break
        case "fifo":
        case "socket":
          inodes.append(inodeHeader(new Record(20), Layout.inodeType[entry.kind], node, ids).u32(1).done())
          break
      }
    }

    const inodeTable = inodes.finish()
    const directoryTable = directories.finish()
    const idBlocks = new MetadataWriter(compressor)
    const idIndex: Array<number> = []
    const idRecord = new Record(4 * ids.size)
    for (const id of ids.keys()) idRecord.u32(id)
    // Each 8 KiB of ids is one metadata block; the index lists where each starts.
    const idBytes = idRecord.done()
    const inodeTableStart = output.offset
    const directoryTableStart = inodeTableStart + inodeTable.length
    const idBlocksStart = directoryTableStart + directoryTable.length
    for (let at = 0; at < idBytes.length; at += Layout.metadataSize) {
      idIndex.push(idBlocksStart + idBlocks.position().block)
      idBlocks.append(idBytes.subarray(at, at + Layout.metadataSize))
    }
    const idTable = idBlocks.finish()
    const idTableStart = idBlocksStart + idTable.length
    const index = new Record(8 * idIndex.length)
    for (const at of idIndex) index.u64(BigInt(at))
    yield* output.push(inodeTable)
    yield* output.push(directoryTable)
    yield* output.push(idTable)
    yield* output.push(index.done())
    const bytesUsed = output.offset
    const size = Math.ceil(bytesUsed / pad) * pad
    yield* output.push(new Uint8Array(size - bytesUsed))
    yield* output.flush()
    yield* sink.write(0, Layout.encodeSuperblock({
      inodeCount: count,
      mkfsTime: options.mkfsTime >>> 0,
      blockSize,
      fragmentCount: 0,
      compression: compressor.id,
      blockLog,
      flags: Layout.flags.noFragments | Layout.flags.noXattrs,
      idCount: ids.size,
      rootInode: root.ref,
      bytesUsed: BigInt(bytesUsed),
      idTableStart: BigInt(idTableStart),
      xattrTableStart: Layout.invalidBlock,
      inodeTableStart: BigInt(inodeTableStart),
      directoryTableStart: BigInt(directoryTableStart),
      fragmentTableStart: BigInt(idBlocksStart),
      exportTableStart: Layout.invalidBlock
    }))
    return { bytesUsed, size, inodes: count }
  })
