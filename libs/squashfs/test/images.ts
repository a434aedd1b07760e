/**
 * Small SquashFS images in memory, written by the real writer, for the tests of what reads and
 * rebuilds them (content deltas, delta installs, the simulator): exported as
 * `@keelos/squashfs/testing`.
 */
import { Effect, Stream } from "effect"
import type * as Compressor from "../src/Compressor.ts"
import * as SquashfsWriter from "../src/SquashfsWriter.ts"
import type * as Tree from "../src/Tree.ts"

const owned = { mode: 0o755, uid: 0, gid: 0, mtime: 1_700_000_000 }

/** An image holding `files` (parent directories made as needed) and any `extra` entries. */
export const imageOf = (
  files: ReadonlyMap<string, Uint8Array>,
  extra: ReadonlyArray<Tree.Entry> = [],
  options: { readonly compressor?: Compressor.Compressor } = {}
): Uint8Array => {
  const entries: Array<Tree.Entry> = [{ ...owned, path: "", kind: "dir" }]
  const dirs = new Set<string>([""])
  for (const path of files.keys()) {
    const parts = path.split("/")
    for (let i = 1; i < parts.length; i++) {
      const dir = parts.slice(0, i).join("/")
      if (!dirs.has(dir)) {
        dirs.add(dir)
        entries.push({ ...owned, path: dir, kind: "dir" })
      }
    }
    entries.push({ ...owned, mode: 0o644, path, kind: "file", size: files.get(path)!.length })
  }
  entries.push(...extra)
  const image = SquashfsWriter.memorySink()
  const result = Effect.runSync(SquashfsWriter.write({ entries, content: (entry) => Stream.make(files.get(entry.path)!) }, image.sink, { mkfsTime: 1_700_000_000, ...options }))
  return image.bytes().slice(0, result.size)
}

/** Text-like bytes (they compress, as a real root's files do). */
export const text = (size: number, seed: number): Uint8Array => {
  const words = ["module", "kernel", "keel", "node", "containerd", "runc", "\n", " "]
  const out = new Uint8Array(size)
  let state = seed | 1
  let at = 0
  while (at < size) {
    state ^= state << 13
    state ^= state >>> 17
    state ^= state << 5
    const word = words[(state >>> 0) % words.length]!
    for (let i = 0; i < word.length && at < size; i++) out[at++] = word.charCodeAt(i)
  }
  return out
}
