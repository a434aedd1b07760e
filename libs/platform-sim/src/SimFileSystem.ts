/**
 * A simulated filesystem for the data partition, behind Effect's own `FileSystem` contract, with
 * the durability rules POSIX promises and nothing more:
 *
 * - file data is durable only after `fsync` of that file;
 * - a directory entry (create, rename, remove, mkdir) is durable only after `fsync` of the
 *   directory; the metadata journal commits in order, so a power cut keeps a prefix of the
 *   pending namespace changes;
 * - unsynced data writes land whole, torn at sector granularity, or not at all.
 *
 * So a rename committed before the renamed file's data was synced leaves an empty or torn file
 * after a crash: the classic lost-update bug, which the simulator must catch.
 */
import { ByteSize, Effect, FileSystem, Layer, Option, PlatformError } from "effect"
import * as Durability from "./Durability.ts"
import type { PowerSupply } from "./Power.ts"
import type { Prng } from "./Prng.ts"
import type { Trace } from "./Trace.ts"

interface Inode {
  readonly id: number
  current: Uint8Array
  durable: Uint8Array
  pending: Array<{ readonly kind: "write"; readonly write: Durability.PendingWrite } | { readonly kind: "truncate"; readonly length: number }>
}

type Entry = number | "dir"

type NamespaceOp =
  | { readonly kind: "link"; readonly path: string; readonly entry: Entry }
  | { readonly kind: "unlink"; readonly path: string }
  /** rename(2) is one journaled change: after a crash both names are old or both are new. */
  | { readonly kind: "rename"; readonly path: string; readonly from: string; readonly entry: Entry }

const parentOf = (path: string) => {
  const i = path.lastIndexOf("/")
  return i <= 0 ? "/" : path.slice(0, i)
}

const normalize = (path: string): string => {
  const parts: Array<string> = []
  for (const part of path.split("/")) {
    if (part === "" || part === ".") continue
    if (part === "..") parts.pop()
    else parts.push(part)
  }
  return "/" + parts.join("/")
}

const apply = (namespace: Map<string, Entry>, op: NamespaceOp): void => {
  switch (op.kind) {
    case "link":
      namespace.set(op.path, op.entry)
      return
    case "unlink":
      namespace.delete(op.path)
      return
    case "rename":
      namespace.delete(op.from)
      namespace.set(op.path, op.entry)
      return
  }
}

const fail = (tag: PlatformError.SystemErrorTag, method: string, path: string, description: string) =>
  Effect.fail(PlatformError.systemError({ _tag: tag, module: "FileSystem", method, pathOrDescriptor: path, description }))

export class SimFileSystem {
  private readonly inodes = new Map<number, Inode>()
  private current = new Map<string, Entry>([["/", "dir"]])
  private durable = new Map<string, Entry>([["/", "dir"]])
  private pendingNamespace: Array<NamespaceOp> = []
  private nextInode = 1

  private readonly power: PowerSupply
  private readonly trace: Trace

  constructor(power: PowerSupply, trace: Trace) {
    this.power = power
    this.trace = trace
  }

  private namespace(op: NamespaceOp): void {
    this.pendingNamespace.push(op)
    apply(this.current, op)
  }

  private inodeAt(path: string): Inode | undefined {
    const entry = this.current.get(path)
    return typeof entry === "number" ? this.inodes.get(entry) : undefined
  }

  private writeInode(inode: Inode, offset: number, bytes: Uint8Array, path: string): void {
    this.power.tick(`write ${path} @${offset}+${bytes.length}`)
    const end = offset + bytes.length
    if (end > inode.current.length) {
      const grown = new Uint8Array(end)
      grown.set(inode.current)
      inode.current = grown
    }
    inode.current.set(bytes, offset)
    inode.pending.push({ kind: "write", write: { offset, bytes: bytes.slice() } })
    this.trace.record(`fs write ${path} @${offset}+${bytes.length}`)
  }

  private truncateInode(inode: Inode, length: number, path: string): void {
    this.power.tick(`truncate ${path} ${length}`)
    const next = new Uint8Array(length)
    next.set(inode.current.subarray(0, Math.min(length, inode.current.length)))
    inode.current = next
    inode.pending.push({ kind: "truncate", length })
    this.trace.record(`fs truncate ${path} ${length}`)
  }

  private fsyncFile(inode: Inode, path: string): void {
    this.power.tick(`fsync ${path}`)
    inode.durable = inode.current.slice()
    inode.pending = []
    this.trace.record(`fs fsync ${path}`)
  }

  /** fsync of a directory: the journal commits every namespace change up to the last one in it. */
  private fsyncDirectory(path: string): void {
    this.power.tick(`fsync dir ${path}`)
    let last = -1
    this.pendingNamespace.forEach((op, i) => {
      if (parentOf(op.path) === path || op.path === path || (op.kind === "rename" && parentOf(op.from) === path)) last = i
    })
    this.commitNamespace(last + 1)
    this.trace.record(`fs fsync dir ${path}`)
  }

  private commitNamespace(count: number): void {
    for (const op of this.pendingNamespace.slice(0, count)) apply(this.durable, op)
    this.pendingNamespace = this.pendingNamespace.slice(count)
  }

  /** The power went off: resolve pending data and namespace changes, then forget the page cache. */
  crash(prng: Prng, rates: Durability.FaultRates): void {
    const committed = prng.int(this.pendingNamespace.length + 1)
    this.trace.record(`crash fs: ${committed}/${this.pendingNamespace.length} namespace changes committed`)
    this.commitNamespace(committed)
    this.pendingNamespace = []
    for (const inode of this.inodes.values()) {
      let durable = inode.durable
      for (const op of inode.pending) {
        if (op.kind === "truncate") {
          if (prng.chance(0.5)) {
            const next = new Uint8Array(op.length)
            next.set(durable.subarray(0, Math.min(op.length, durable.length)))
            durable = next
          }
        } else {
          const outcome = Durability.drawOutcome(prng, rates)
          this.trace.record(`crash inode ${inode.id} @${op.write.offset}+${op.write.bytes.length}: ${outcome}`)
          durable = Durability.land(durable, op.write, outcome, prng)
        }
      }
      inode.durable = durable
      inode.current = durable.slice()
      inode.pending = []
    }
    this.current = new Map(this.durable)
    const reachable = new Set([...this.durable.values()].filter((e): e is number => typeof e === "number"))
    for (const id of [...this.inodes.keys()]) if (!reachable.has(id)) this.inodes.delete(id)
  }

  /** sync(2): all data and every namespace change become durable. */
  flushAll(): void {
    this.commitNamespace(this.pendingNamespace.length)
    for (const inode of this.inodes.values()) {
      inode.durable = inode.current.slice()
      inode.pending = []
    }
  }

  /** The durable content of a file (for invariant checks), or undefined if it is absent. */
  durableContent(path: string): Uint8Array | undefined {
    const entry = this.durable.get(normalize(path))
    return typeof entry === "number" ? this.inodes.get(entry)?.durable.slice() : undefined
  }

  /** Effect's FileSystem over this simulation. */
  layer(): Layer.Layer<FileSystem.FileSystem> {
    const sim = this
    const info = (entry: Entry, size: number): FileSystem.File.Info => ({
      type: entry === "dir" ? "Directory" : "File",
      mtime: Option.none(),
      atime: Option.none(),
      birthtime: Option.none(),
      dev: 0n,
      ino: typeof entry === "number" ? Option.some(BigInt(entry)) : Option.none(),
      mode: entry === "dir" ? 0o755 : 0o600,
      nlink: Option.none(),
      uid: Option.none(),
      gid: Option.none(),
      rdev: Option.none(),
      size: ByteSize.bytes(size),
      blksize: Option.none(),
      blocks: Option.none()
    })

    const mkdir = (path: string, recursive: boolean): Effect.Effect<void, PlatformError.PlatformError> =>
      Effect.suspend(() => {
        const target = normalize(path)
        const existing = sim.current.get(target)
        if (existing === "dir") return recursive ? Effect.void : fail("AlreadyExists", "makeDirectory", target, "exists")
        if (existing !== undefined) return fail("AlreadyExists", "makeDirectory", target, "a file is in the way")
        const parent = parentOf(target)
        if (sim.current.get(parent) !== "dir") {
          if (!recursive) return fail("NotFound", "makeDirectory", target, "no parent directory")
          return Effect.andThen(mkdir(parent, true), mkdir(target, true))
        }
        return Effect.sync(() => {
          sim.power.tick(`mkdir ${target}`)
          sim.namespace({ kind: "link", path: target, entry: "dir" })
          sim.trace.record(`fs mkdir ${target}`)
        })
      })

    const openFile = (path: string, flag: FileSystem.OpenFlag): Effect.Effect<FileSystem.File, PlatformError.PlatformError> =>
      Effect.suspend(() => {
        const target = normalize(path)
        const entry = sim.current.get(target)
        if (entry === "dir") {
          if (flag !== "r") return fail("BadResource", "open", target, "is a directory")
          return Effect.succeed(directoryHandle(target))
        }
        const creates = flag.startsWith("w") || flag.startsWith("a")
        if (entry === undefined && !creates) return fail("NotFound", "open", target, "no such file")
        if (entry !== undefined && flag.includes("x")) return fail("AlreadyExists", "open", target, "exists")
        if (sim.current.get(parentOf(target)) !== "dir") return fail("NotFound", "open", target, "no parent directory")
        return Effect.sync(() => {
          let inode = entry === undefined ? undefined : sim.inodes.get(entry)
          if (inode === undefined) {
            sim.power.tick(`create ${target}`)
            inode = { id: sim.nextInode++, current: new Uint8Array(0), durable: new Uint8Array(0), pending: [] }
            sim.inodes.set(inode.id, inode)
            sim.namespace({ kind: "link", path: target, entry: inode.id })
            sim.trace.record(`fs create ${target}`)
          } else if (flag.startsWith("w")) {
            sim.truncateInode(inode, 0, target)
          }
          return fileHandle(target, inode, flag)
        })
      })

    const directoryHandle = (path: string): FileSystem.File => ({
      [FileSystem.FileTypeId]: FileSystem.FileTypeId,
      stat: Effect.succeed(info("dir", 0)),
      seek: () => Effect.succeed(0n),
      sync: Effect.sync(() => sim.fsyncDirectory(path)),
      read: () => fail("BadResource", "read", path, "is a directory"),
      readAlloc: () => fail("BadResource", "read", path, "is a directory"),
      truncate: () => fail("BadResource", "truncate", path, "is a directory"),
      write: () => fail("BadResource", "write", path, "is a directory"),
      writeAll: () => fail("BadResource", "write", path, "is a directory")
    } as unknown as FileSystem.File)

    const fileHandle = (path: string, inode: Inode, flag: FileSystem.OpenFlag): FileSystem.File => {
      let position = 0
      const append = flag.startsWith("a")
      const readAt = (length: number, at: number | undefined) => {
        const from = at ?? position
        const bytes = inode.current.slice(from, from + length)
        if (at === undefined) position += bytes.length
        return bytes
      }
      const writeAt = (bytes: Uint8Array) => {
        const offset = append ? inode.current.length : position
        sim.writeInode(inode, offset, bytes, path)
        position = offset + bytes.length
        return bytes.length
      }
      return {
        [FileSystem.FileTypeId]: FileSystem.FileTypeId,
        stat: Effect.sync(() => info(inode.id, inode.current.length)),
        seek: (offset: bigint, from: FileSystem.SeekMode) =>
          Effect.sync(() => {
            position = from === "start" ? Number(offset) : position + Number(offset)
            return BigInt(position)
          }),
        sync: Effect.sync(() => sim.fsyncFile(inode, path)),
        read: (buffer: Uint8Array, options?: FileSystem.File.ReadOptions) =>
          Effect.sync(() => {
            const bytes = readAt(buffer.length, options?.position === undefined ? undefined : Number(options.position))
            buffer.set(bytes)
            return bytes.length
          }),
        readAlloc: (size: number, options?: FileSystem.File.ReadOptions) =>
          Effect.sync(() => {
            const bytes = readAt(size, options?.position === undefined ? undefined : Number(options.position))
            return bytes.length === 0 ? Option.none() : Option.some(bytes)
          }),
        truncate: (length?: number) => Effect.sync(() => sim.truncateInode(inode, length ?? 0, path)),
        write: (buffer: Uint8Array) => Effect.sync(() => writeAt(buffer)),
        writeAll: (buffer: Uint8Array) => Effect.sync(() => void writeAt(buffer))
      } as unknown as FileSystem.File
    }

    const remove = (path: string, recursive: boolean, force: boolean): Effect.Effect<void, PlatformError.PlatformError> =>
      Effect.suspend(() => {
        const target = normalize(path)
        const entry = sim.current.get(target)
        if (entry === undefined) return force ? Effect.void : fail("NotFound", "remove", target, "no such file")
        const children = [...sim.current.keys()].filter((p) => parentOf(p) === target && p !== target)
        if (entry === "dir" && children.length > 0 && !recursive) return fail("Busy", "remove", target, "directory not empty")
        return Effect.andThen(
          Effect.forEach(children, (child) => remove(child, true, force), { discard: true }),
          Effect.sync(() => {
            sim.power.tick(`unlink ${target}`)
            sim.namespace({ kind: "unlink", path: target })
            sim.trace.record(`fs unlink ${target}`)
          })
        )
      })

    // make() derives exists, readFileString, writeFileString, stream and sink from the primitives.
    return Layer.succeed(FileSystem.FileSystem)(FileSystem.make(FileSystem.makeNoop({
      access: (path) => Effect.suspend(() => sim.current.has(normalize(path)) ? Effect.void : fail("NotFound", "access", path, "no such file")),
      exists: (path) => Effect.sync(() => sim.current.has(normalize(path))),
      makeDirectory: (path, options) => mkdir(path, options?.recursive === true),
      open: (path, options) => openFile(path, options?.flag ?? "r"),
      readFile: (path) =>
        Effect.suspend(() => {
          const inode = sim.inodeAt(normalize(path))
          return inode === undefined ? fail("NotFound", "readFile", path, "no such file") : Effect.succeed(inode.current.slice())
        }),
      readFileString: (path) =>
        Effect.suspend(() => {
          const inode = sim.inodeAt(normalize(path))
          return inode === undefined
            ? fail("NotFound", "readFile", path, "no such file")
            : Effect.succeed(new TextDecoder().decode(inode.current))
        }),
      writeFile: (path, data, options) =>
        Effect.scoped(Effect.flatMap(openFile(path, options?.flag ?? "w"), (file) => file.writeAll(data))),
      readDirectory: (path) =>
        Effect.suspend(() => {
          const target = normalize(path)
          if (sim.current.get(target) !== "dir") return fail("NotFound", "readDirectory", target, "no such directory")
          return Effect.succeed(
            [...sim.current.keys()].filter((p) => p !== target && parentOf(p) === target).map((p) => p.slice(p.lastIndexOf("/") + 1)).sort()
          )
        }),
      rename: (from, to) =>
        Effect.suspend(() => {
          const source = normalize(from)
          const target = normalize(to)
          const entry = sim.current.get(source)
          if (entry === undefined) return fail("NotFound", "rename", source, "no such file")
          if (sim.current.get(parentOf(target)) !== "dir") return fail("NotFound", "rename", target, "no parent directory")
          return Effect.sync(() => {
            sim.power.tick(`rename ${source} ${target}`)
            sim.namespace({ kind: "rename", path: target, from: source, entry })
            sim.trace.record(`fs rename ${source} -> ${target}`)
          })
        }),
      remove: (path, options) => remove(path, options?.recursive === true, options?.force === true),
      stat: (path) =>
        Effect.suspend(() => {
          const target = normalize(path)
          const entry = sim.current.get(target)
          if (entry === undefined) return fail("NotFound", "stat", target, "no such file")
          return Effect.succeed(info(entry, entry === "dir" ? 0 : sim.inodes.get(entry)?.current.length ?? 0))
        })
    })))
  }
}
