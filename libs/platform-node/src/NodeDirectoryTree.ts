/**
 * A directory on this machine as a SquashFS writer's source: its entries (walked with lstat, not
 * following symlinks) and each file's contents read in 1 MiB chunks. The image build uses it to
 * write the OS image with the same writer a node runs, and tests use it to compare images with the
 * tree they came from. Owners and times can be normalised as `mksquashfs -all-root -all-time` does.
 */
import * as fs from "node:fs"
import * as path from "node:path"
import { Effect, Schema, Stream } from "effect"
import type { SquashfsWriter, Tree } from "@keelos/squashfs"

export class DirectoryTreeError extends Schema.TaggedError<DirectoryTreeError>()("DirectoryTreeError", {
  path: Schema.String,
  detail: Schema.String
}) {
  override get message(): string {
    return `cannot read ${this.path}: ${this.detail}`
  }
}

export interface Options {
  /** Every entry owned by root, as `-all-root`. */
  readonly allRoot?: boolean
  /** Every entry's time, as `-all-time`. */
  readonly mtime?: number
}

const failure = (at: string) => (error: unknown) => new DirectoryTreeError({ path: at, detail: error instanceof Error ? error.message : String(error) })

const entryOf = (relative: string, stats: fs.Stats, full: string, options: Options): Tree.Entry | null => {
  const common = {
    path: relative,
    mode: stats.mode & 0o7777,
    uid: options.allRoot ? 0 : stats.uid,
    gid: options.allRoot ? 0 : stats.gid,
    mtime: options.mtime ?? Math.floor(stats.mtimeMs / 1000)
  }
  if (stats.isDirectory()) return { ...common, kind: "dir" }
  if (stats.isFile()) return { ...common, kind: "file", size: stats.size }
  if (stats.isSymbolicLink()) return { ...common, kind: "symlink", target: fs.readlinkSync(full) }
  if (stats.isBlockDevice() || stats.isCharacterDevice()) {
    const major = Number((BigInt(stats.rdev) >> 8n) & 0xfffn) | Number((BigInt(stats.rdev) >> 32n) & ~0xfffn)
    const minor = Number(BigInt(stats.rdev) & 0xffn) | Number((BigInt(stats.rdev) >> 12n) & ~0xffn)
    return { ...common, kind: stats.isBlockDevice() ? "blockdev" : "chardev", major, minor }
  }
  if (stats.isFIFO()) return { ...common, kind: "fifo" }
  if (stats.isSocket()) return { ...common, kind: "socket" }
  return null
}

/** The tree under `root` as entries and contents. */
export const scan = (root: string, options: Options = {}): Effect.Effect<SquashfsWriter.Source<DirectoryTreeError>, DirectoryTreeError> =>
  Effect.try({
    try: () => {
      const entries: Array<Tree.Entry> = []
      const walk = (relative: string) => {
        const full = relative === "" ? root : path.join(root, relative)
        const entry = entryOf(relative, fs.lstatSync(full), full, options)
        if (entry === null) return
        entries.push(entry)
        if (entry.kind === "dir") {
          for (const name of fs.readdirSync(full)) walk(relative === "" ? name : `${relative}/${name}`)
        }
      }
      walk("")
      return entries
    },
    catch: failure(root)
  }).pipe(Effect.map((entries) => ({
    entries,
    content: (entry: Tree.File) => {
      const full = path.join(root, entry.path)
      return Stream.fromAsyncIterable(fs.createReadStream(full, { highWaterMark: 1 << 20 }), failure(full)).pipe(
        Stream.map((chunk) => new Uint8Array((chunk as Buffer).buffer, (chunk as Buffer).byteOffset, (chunk as Buffer).length))
      )
    }
  })))

/** A file on this machine as the writer's sink (created or truncated). */
export const fileSink = (file: string): Effect.Effect<SquashfsWriter.Sink<DirectoryTreeError> & { readonly close: Effect.Effect<void> }, DirectoryTreeError> =>
  Effect.try({ try: () => fs.openSync(file, "w"), catch: failure(file) }).pipe(Effect.map((fd) => ({
    write: (offset: number, bytes: Uint8Array) =>
      Effect.try({
        try: () => {
          let done = 0
          while (done < bytes.length) done += fs.writeSync(fd, bytes, done, bytes.length - done, offset + done)
        },
        catch: failure(file)
      }),
    close: Effect.sync(() => fs.closeSync(fd))
  })))

/** A file on this machine as the reader's source. */
export const fileSource = (file: string): Effect.Effect<{ readonly size: number; readonly read: (offset: number, length: number) => Effect.Effect<Uint8Array, DirectoryTreeError>; readonly close: Effect.Effect<void> }, DirectoryTreeError> =>
  Effect.try({ try: () => fs.openSync(file, "r"), catch: failure(file) }).pipe(Effect.map((fd) => ({
    size: fs.fstatSync(fd).size,
    read: (offset: number, length: number) =>
      Effect.try({
        try: () => {
          const buffer = new Uint8Array(length)
          const n = fs.readSync(fd, buffer, 0, length, offset)
          return buffer.subarray(0, n)
        },
        catch: failure(file)
      }),
    close: Effect.sync(() => fs.closeSync(fd))
  })))
