/**
 * The replaying compressor writes back, bit for bit, an image it has read, compressing again only
 * the sample it was asked to check and content it has not seen; an image another compressor wrote
 * shows in the checked blocks (and in the bytes written), so a proof built on it cannot pass.
 */
import * as Zlib from "node:zlib"
import { Effect, Stream } from "effect"
import { describe, expect, it } from "vitest"
import { Compressor, ReplayingCompressor, SquashfsReader, SquashfsWriter } from "../src/index.ts"
import { imageOf, text } from "./images.ts"

const files = new Map<string, Uint8Array>(Array.from({ length: 6 }, (_, i) => [`usr/lib/file-${i}`, text(700_000 + i * 1000, i + 1)]))

const memory = (bytes: Uint8Array): SquashfsReader.Source<never> => ({
  size: bytes.length,
  read: (offset, length) => Effect.succeed(bytes.subarray(offset, Math.min(bytes.length, offset + length)))
})

/** Reads every file of `image` through `compressor`, and writes its tree again through `writing`. */
const rewrite = (image: Uint8Array, reading: Compressor.Compressor, writing: Compressor.Compressor) =>
  Effect.runSync(Effect.gen(function*() {
    const reader = yield* SquashfsReader.open(memory(image), reading)
    const found = yield* reader.entries()
    const contents = new Map<string, Uint8Array>()
    for (const f of found) if (f.entry.kind === "file") contents.set(f.entry.path, yield* reader.read(f, 0, f.entry.size))
    const out = SquashfsWriter.memorySink()
    const written = yield* SquashfsWriter.write(
      { entries: found.map((f) => f.entry), content: (entry) => Stream.make(contents.get(entry.path)!) },
      out.sink,
      { mkfsTime: reader.superblock.mkfsTime, blockSize: reader.superblock.blockSize, compressor: writing }
    )
    return out.bytes().slice(0, written.size)
  }))

const level1: Compressor.Compressor = {
  ...Compressor.zlib,
  compress: (bytes) => Zlib.deflateSync(bytes, { level: 1 }),
  compressAsync: (bytes) => Promise.resolve(Zlib.deflateSync(bytes, { level: 1 }))
}

describe("ReplayingCompressor", () => {
  const image = imageOf(files)

  it("writes back the image it read, compressing again about one block in checkEvery", () => {
    const replay = ReplayingCompressor.make(Compressor.zlib, { checkEvery: 4 })
    expect(Buffer.compare(rewrite(image, replay.recorder, replay.replayer), image)).toBe(0)
    const { replayed, compressed, checked, differed } = replay.counts()
    expect(differed).toBe(0)
    // 6 files of about 700 KB in 128 KiB blocks, and the metadata: every data block was read, so
    // what is compressed unchecked is at most a table reading the files did not need.
    expect(replayed + checked).toBeGreaterThan(30)
    expect(compressed - checked).toBeLessThanOrEqual(2)
    expect(checked / (replayed + checked)).toBeGreaterThan(0.1)
    expect(checked / (replayed + checked)).toBeLessThan(0.45)
  })

  it("compresses every block again when checkEvery is 1, and content it has not read", () => {
    const every = ReplayingCompressor.make(Compressor.zlib, { checkEvery: 1 })
    expect(Buffer.compare(rewrite(image, every.recorder, every.replayer), image)).toBe(0)
    expect(every.counts().replayed).toBe(0)
    const unread = ReplayingCompressor.make(Compressor.zlib, { checkEvery: 1000 })
    expect(Buffer.compare(rewrite(image, Compressor.zlib, unread.replayer), image)).toBe(0)
    expect(unread.counts()).toMatchObject({ replayed: 0, checked: 0 })
  })

  it("shows an image another compressor wrote: checked blocks differ, and so do the bytes written", () => {
    const other = imageOf(files, [], { compressor: level1 })
    const replay = ReplayingCompressor.make(Compressor.zlib, { checkEvery: 4 })
    const written = rewrite(other, replay.recorder, replay.replayer)
    expect(replay.counts().differed).toBeGreaterThan(0)
    expect(Buffer.compare(written, other)).not.toBe(0)
  })
})
