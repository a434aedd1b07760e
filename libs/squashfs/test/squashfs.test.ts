/**
 * The writer's images are read by the real kernel (loop-mounted here) and by squashfs-tools'
 * unsquashfs exactly as the tree they were made from; the same tree gives the same bytes in any
 * entry order; the reader gives back the tree and contents of our images and of mksquashfs's gzip
 * images (with fragments); and corrupt images make the reader fail with a SquashfsError, never
 * throw or run away.
 */
import { execFileSync } from "node:child_process"
import { createHash } from "node:crypto"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { Cause, Effect, Exit, Stream } from "effect"
import { afterAll, describe, expect, it } from "vitest"
import { Compressor, SquashfsReader, SquashfsWriter, type Tree } from "../src/index.ts"
import { materialize, prng, sample, writeImage } from "./trees.ts"

const dir = fs.mkdtempSync(path.join(os.tmpdir(), "keel-squashfs-"))
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }))

const blockSize = 4096
const tree = sample(blockSize)
const sha = (bytes: Uint8Array) => createHash("sha256").update(bytes).digest("hex")
const written = Effect.runSync(writeImage(tree, { mkfsTime: 1_700_000_000, blockSize }, SquashfsWriter))
const imageFile = path.join(dir, "tree.img")
fs.writeFileSync(imageFile, written.image)

const memorySource = (image: Uint8Array): SquashfsReader.Source<never> => ({
  size: image.length,
  read: (offset, length) => Effect.succeed(image.subarray(offset, Math.min(image.length, offset + length)))
})

/** What the host sees of an entry on a mounted or extracted tree. */
const describeOnHost = (root: string, entry: Tree.Entry) => {
  const full = path.join(root, entry.path)
  const stats = fs.lstatSync(full)
  return {
    mode: stats.mode & 0o7777,
    uid: stats.uid,
    gid: stats.gid,
    mtime: Math.floor(stats.mtimeMs / 1000),
    kind: stats.isDirectory() ? "dir" : stats.isFile() ? "file" : stats.isSymbolicLink() ? "symlink" : stats.isCharacterDevice() ? "chardev" : stats.isBlockDevice() ? "blockdev" : "fifo",
    detail: stats.isFile() ? sha(fs.readFileSync(full)) : stats.isSymbolicLink() ? fs.readlinkSync(full) : stats.isCharacterDevice() || stats.isBlockDevice() ? String(stats.rdev) : ""
  }
}

const expected = (entry: Tree.Entry) => ({
  mode: entry.kind === "symlink" ? 0o777 : entry.mode,
  uid: entry.uid,
  gid: entry.gid,
  mtime: entry.mtime,
  kind: entry.kind,
  detail: entry.kind === "file"
    ? sha(tree.contents.get(entry.path)!)
    : entry.kind === "symlink"
    ? entry.target
    : entry.kind === "chardev" || entry.kind === "blockdev"
    ? String((entry.major << 8) | (entry.minor & 0xff) | ((entry.minor & ~0xff) << 12))
    : ""
})

describe("SquashfsWriter", () => {
  it("writes an image the kernel mounts as exactly the tree", () => {
    const mountpoint = path.join(dir, "mnt")
    fs.mkdirSync(mountpoint)
    execFileSync("mount", ["-t", "squashfs", "-o", "loop,ro", imageFile, mountpoint])
    try {
      for (const entry of tree.entries) expect({ path: entry.path, ...describeOnHost(mountpoint, entry) }).toEqual({ path: entry.path, ...expected(entry) })
      expect(fs.readdirSync(path.join(mountpoint, "many")).length).toBe(1300)
      expect(fs.statSync(path.join(mountpoint, "etc")).nlink).toBe(3)
    } finally {
      execFileSync("umount", [mountpoint])
    }
  })

  it("writes an image unsquashfs extracts as the tree", () => {
    const out = path.join(dir, "extracted")
    execFileSync("unsquashfs", ["-no-progress", "-d", out, imageFile], { stdio: "pipe" })
    for (const entry of tree.entries) {
      if (entry.kind === "file" || entry.kind === "symlink" || entry.kind === "dir") {
        expect(describeOnHost(out, entry).detail, entry.path).toBe(expected(entry).detail)
      }
    }
    const stat = execFileSync("unsquashfs", ["-s", imageFile], { encoding: "utf8" })
    expect(stat).toMatch(/gzip/)
    expect(stat).toMatch(/Block size 4096/)
  })

  it("gives the same bytes for the same tree in any order, and pads to 4 KiB", () => {
    const next = prng(7)
    const shuffled = { ...tree, entries: [...tree.entries].sort(() => next() - 0.5) }
    const again = Effect.runSync(writeImage(shuffled, { mkfsTime: 1_700_000_000, blockSize }, SquashfsWriter))
    expect(sha(again.image)).toBe(sha(written.image))
    expect(written.image.length % 4096).toBe(0)
    expect(written.result.bytesUsed).toBeLessThanOrEqual(written.image.length)
    const changed = { entries: tree.entries, contents: new Map(tree.contents).set("etc/hostname", new TextEncoder().encode("other-name!\n")) }
    expect(sha(Effect.runSync(writeImage(changed, { mkfsTime: 1_700_000_000, blockSize }, SquashfsWriter)).image)).not.toBe(sha(written.image))
  })

  it("gives the same bytes with blocks compressed side by side and finished out of order, with progress after each file", async () => {
    // Each call finishes after a number of turns that falls as calls go on, so later blocks finish first.
    let calls = 0
    const shuffling: Compressor.Compressor = {
      ...Compressor.zlib,
      compressAsync: async (bytes) => {
        const turns = 4 * (8 - (calls++ % 8))
        for (let i = 0; i < turns; i++) await Promise.resolve()
        return Compressor.zlib.compress(bytes)
      }
    }
    const progress: Array<number> = []
    const onProgress = (done: number) => Effect.sync(() => void progress.push(done))
    const parallel = await Effect.runPromise(writeImage(tree, { mkfsTime: 1_700_000_000, blockSize, compressor: shuffling, parallelBlocks: 8, onProgress }, SquashfsWriter))
    expect(sha(parallel.image)).toBe(sha(written.image))
    expect(calls).toBeGreaterThan(8)
    const files = tree.entries.filter((entry) => entry.kind === "file")
    expect(progress.length).toBe(files.length)
    expect(progress.every((done, i) => i === 0 || done >= progress[i - 1]!)).toBe(true)
    expect(progress.at(-1)).toBe(files.reduce((sum, entry) => sum + entry.size, 0))
  })

  it("refuses trees that are not trees, and contents that are not their size", () => {
    const reason = (entries: Array<Tree.Entry>, contents = tree.contents) => {
      const exit = Effect.runSyncExit(writeImage({ entries, contents }, { mkfsTime: 0, blockSize }, SquashfsWriter))
      if (Exit.isSuccess(exit)) return "wrote"
      const error = Cause.squash(exit.cause) as { readonly reason: string }
      return error.reason
    }
    const root = tree.entries[0]!
    expect(reason([root, root])).toBe("InvalidTree")
    expect(reason([root, { ...root, path: "a/b", kind: "dir" }])).toBe("InvalidTree")
    expect(reason([{ ...root, path: "x", kind: "dir" }])).toBe("InvalidTree")
    expect(reason([root, { ...root, path: "../escape", kind: "dir" }])).toBe("InvalidTree")
    expect(reason([root, { ...root, path: "f", kind: "file", size: 10 }], new Map([["f", new Uint8Array(9)]]))).toBe("SizeMismatch")
    expect(reason([root, { ...root, path: "f", kind: "file", size: 10 }], new Map([["f", new Uint8Array(11)]]))).toBe("SizeMismatch")
  })
})

describe("SquashfsReader", () => {
  const readAll = <E>(source: SquashfsReader.Source<E>) =>
    Effect.gen(function*() {
      const reader = yield* SquashfsReader.open(source)
      const found = yield* reader.entries()
      const contents = new Map<string, string>()
      for (const item of found) {
        if (item.entry.kind === "file") {
          const chunks = yield* Stream.runCollect(reader.stream(item))
          contents.set(item.entry.path, sha(Buffer.concat([...chunks])))
        }
      }
      return { entries: found.map((item) => item.entry), contents, reader, found }
    })

  it("reads back the writer's tree and contents", async () => {
    const back = await Effect.runPromise(readAll(memorySource(written.image)))
    const byPath = (entries: ReadonlyArray<Tree.Entry>) => [...entries].sort((a, b) => a.path < b.path ? -1 : 1)
    expect(byPath(back.entries)).toEqual(byPath(tree.entries))
    for (const [p, data] of tree.contents) expect(back.contents.get(p), p).toBe(sha(data))
    // Ranges inside and across blocks.
    const node = back.found.find((item) => item.entry.path === "bin/node")!
    const middle = await Effect.runPromise(back.reader.read(node, blockSize - 5, blockSize + 10))
    expect(sha(middle)).toBe(sha(tree.contents.get("bin/node")!.subarray(blockSize - 5, 2 * blockSize + 5)))
  })

  it("reads mksquashfs's gzip images, fragments included", async () => {
    const plain = { entries: tree.entries.filter((e) => e.kind !== "chardev" && e.kind !== "blockdev" && e.kind !== "fifo"), contents: tree.contents }
    const root = path.join(dir, "mk-tree")
    materialize(plain, root)
    const mk = path.join(dir, "mk.img")
    execFileSync("mksquashfs", [root, mk, "-noappend", "-comp", "gzip", "-b", "4096", "-all-root", "-all-time", "1700000000", "-no-xattrs", "-quiet", "-no-progress"])
    const back = await Effect.runPromise(readAll(memorySource(new Uint8Array(fs.readFileSync(mk)))))
    expect(back.entries.length).toBe(plain.entries.length)
    for (const [p, data] of plain.contents) expect(back.contents.get(p), p).toBe(sha(data))
    expect(back.reader.superblock.fragmentCount).toBeGreaterThan(0)
  })

  it("fails with a SquashfsError on corrupt images, never a defect", async () => {
    const next = prng(99)
    let failures = 0
    for (let round = 0; round < 300; round++) {
      const image = written.image.slice()
      // Mostly the tables at the end, where a flipped byte changes structure rather than contents.
      const flips = 1 + Math.floor(next() * 4)
      for (let i = 0; i < flips; i++) {
        const at = next() < 0.8 ? Math.floor(written.result.bytesUsed - 1 - next() * Math.min(40_000, written.result.bytesUsed)) : Math.floor(next() * written.result.bytesUsed)
        image[at] = Math.floor(next() * 256)
      }
      if (next() < 0.1) image.fill(0, Math.floor(next() * image.length))
      const exit = await Effect.runPromiseExit(readAll(memorySource(image)))
      if (Exit.isFailure(exit)) {
        expect(Cause.hasDies(exit.cause), Cause.pretty(exit.cause)).toBe(false)
        expect((Cause.squash(exit.cause) as { readonly _tag: string })._tag).toBe("SquashfsError")
        failures++
      }
    }
    expect(failures).toBeGreaterThan(50)
  }, 60_000)
})
