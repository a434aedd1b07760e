/** In-memory trees for the writer and reader tests, and their copies on the host's disk. */
import * as fs from "node:fs"
import * as path from "node:path"
import { Effect, Stream } from "effect"
import type { SquashfsWriter, Tree } from "../src/index.ts"

export const prng = (seed: number) => () => {
  seed ^= seed << 13
  seed ^= seed >>> 17
  seed ^= seed << 5
  return (seed >>> 0) / 2 ** 32
}

export interface MemoryTree {
  readonly entries: Array<Tree.Entry>
  readonly contents: Map<string, Uint8Array>
}

/** Compressible text with random bytes mixed in, so blocks are stored both ways. */
export const bytes = (size: number, seed: number, randomShare = 0.3): Uint8Array => {
  const next = prng(seed)
  const out = new Uint8Array(size)
  const words = ["kernel ", "module ", "keel ", "squash ", "node ", "\n"]
  let at = 0
  while (at < size) {
    if (next() < randomShare) {
      const n = Math.min(size - at, 1 + Math.floor(next() * 4096))
      for (let i = 0; i < n; i++) out[at + i] = Math.floor(next() * 256)
      at += n
    } else {
      const word = words[Math.floor(next() * words.length)]!
      for (let i = 0; i < word.length && at < size; i++) out[at++] = word.charCodeAt(i)
    }
  }
  return out
}

const base = { uid: 0, gid: 0, mtime: 1_700_000_000 }

/** A tree with every kind of entry, file sizes around block boundaries and a big directory. */
export const sample = (blockSize: number, seed = 1): MemoryTree => {
  const entries: Array<Tree.Entry> = [{ ...base, path: "", kind: "dir", mode: 0o755 }]
  const contents = new Map<string, Uint8Array>()
  const file = (p: string, size: number, mode = 0o644, owner = base) => {
    entries.push({ ...owner, path: p, kind: "file", mode, size })
    contents.set(p, bytes(size, seed + size + p.length))
  }
  entries.push({ ...base, path: "bin", kind: "dir", mode: 0o755 }, { ...base, path: "etc", kind: "dir", mode: 0o755 })
  entries.push({ ...base, path: "etc/empty", kind: "dir", mode: 0o700 }, { ...base, path: "dev", kind: "dir", mode: 0o755 })
  file("bin/node", 3 * blockSize + 17, 0o755)
  file("bin/exact", 2 * blockSize, 0o4755)
  file("bin/zero", 0)
  file("etc/hostname", 12)
  file("etc/owned", 100, 0o640, { uid: 1000, gid: 1000, mtime: 1_600_000_000 })
  entries.push({ ...base, path: "etc/link", kind: "symlink", mode: 0o777, target: "../bin/node" })
  entries.push({ ...base, path: "dev/null", kind: "chardev", mode: 0o666, major: 1, minor: 3 })
  entries.push({ ...base, path: "dev/sda", kind: "blockdev", mode: 0o660, major: 8, minor: 300 })
  entries.push({ ...base, path: "dev/pipe", kind: "fifo", mode: 0o600 })
  // More than 256 entries and a listing over 64 KiB: several headers and an extended directory inode.
  entries.push({ ...base, path: "many", kind: "dir", mode: 0o755 })
  for (let i = 0; i < 1300; i++) {
    const name = `many/certificate-authority-${String(i).padStart(5, "0")}-${"x".repeat(i % 40)}.pem`
    if (i % 3 === 0) entries.push({ ...base, path: name, kind: "symlink", mode: 0o777, target: `/usr/share/ca/${i}.crt` })
    else file(name, i % 7 === 0 ? 0 : 50 + (i % 500))
  }
  return { entries, contents }
}

export const source = (tree: MemoryTree): SquashfsWriter.Source<never> => ({
  entries: tree.entries,
  content: (entry) => {
    const data = tree.contents.get(entry.path)!
    // Uneven chunks, so the writer's re-blocking is exercised.
    const chunks: Array<Uint8Array> = []
    for (let at = 0, step = 1; at < data.length; at += step, step = step * 3 + 1) chunks.push(data.subarray(at, at + step))
    return Stream.fromIterable(chunks)
  }
})

/** Writes the image into memory. */
export const writeImage = (tree: MemoryTree, options: SquashfsWriter.Options, writer: typeof SquashfsWriter) => {
  const memory = writer.memorySink()
  return Effect.map(writer.write(source(tree), memory.sink, options), (result) => ({ result, image: memory.bytes().slice(0, result.size) }))
}

/** The tree as files on disk (devices and fifos left out: creating them needs mknod). */
export const materialize = (tree: MemoryTree, root: string) => {
  for (const entry of tree.entries) {
    const full = path.join(root, entry.path)
    if (entry.kind === "dir") fs.mkdirSync(full, { recursive: true, mode: entry.mode })
    else if (entry.kind === "file") fs.writeFileSync(full, tree.contents.get(entry.path)!, { mode: entry.mode })
    else if (entry.kind === "symlink") fs.symlinkSync(entry.target, full)
  }
  for (const entry of tree.entries) if (entry.kind === "dir" || entry.kind === "file") fs.chmodSync(path.join(root, entry.path), entry.mode)
}
