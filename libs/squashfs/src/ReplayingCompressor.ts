/**
 * A compressor that answers from an image it has read. Reading an image through `recorder`
 * remembers each block it decompresses, by a hash of the content; writing through `replayer` then
 * gives content it has seen those stored bytes, and really compresses content it has not seen and
 * one block in `checkEvery` of what it has (by content, so the same blocks every time). A checked
 * block that compresses to other bytes than the image's is written as compressed, so the image
 * written no longer matches.
 *
 * It exists for the content-delta generator's proof: rebuilding the new image from the old one
 * and the delta checks every byte of the layout and of every file's content, and deflating all
 * of the changed content again (most of the proof's time) would only check, block after block,
 * that this zlib still writes what it wrote when it built the image; a sample checks that.
 * Memory: the stored bytes of the blocks read, at most the image read.
 */
import { hash } from "node:crypto"
import type { Compressor } from "./Compressor.ts"

export interface Counts {
  /** Blocks written with the stored bytes of the image read. */
  readonly replayed: number
  /** Blocks compressed: not in the image read, or checked. */
  readonly compressed: number
  /** Of those, blocks the image read also holds, compared with its stored bytes. */
  readonly checked: number
  /** Checked blocks whose compressed bytes differ from the image's. */
  readonly differed: number
}

export interface ReplayingCompressor {
  readonly recorder: Compressor
  readonly replayer: Compressor
  readonly counts: () => Counts
}

/** The content's SHA-256: the key its stored bytes are kept under, and its first byte picks the sample. */
const digestOf = (content: Uint8Array) => {
  const digest = hash("sha256", content, "buffer")
  return { key: digest.toString("base64"), sample: digest[0]! }
}

const same = (a: Uint8Array, b: Uint8Array) => a.length === b.length && Buffer.compare(a, b) === 0

export const make = (real: Compressor, options: { readonly checkEvery: number }): ReplayingCompressor => {
  const every = Math.max(1, Math.floor(options.checkEvery))
  const stored = new Map<string, Uint8Array>()
  let replayed = 0
  let compressed = 0
  let checked = 0
  let differed = 0
  /** What the image read holds for this content, unless the block is compressed (unseen or checked). */
  const lookup = (content: Uint8Array): { readonly replay: Uint8Array } | { readonly compare: Uint8Array | undefined } => {
    const { key, sample } = digestOf(content)
    const seen = stored.get(key)
    if (seen !== undefined && sample % every !== 0) {
      replayed++
      return { replay: seen }
    }
    compressed++
    if (seen !== undefined) checked++
    return { compare: seen }
  }
  const compared = (out: Uint8Array, expected: Uint8Array | undefined) => {
    if (expected !== undefined && !same(out, expected)) differed++
    return out
  }
  const recorder: Compressor = {
    ...real,
    decompress: (bytes, maxSize) => {
      const content = real.decompress(bytes, maxSize)
      stored.set(digestOf(content).key, bytes.slice())
      return content
    }
  }
  const replayer: Compressor = {
    ...real,
    compress: (content) => {
      const found = lookup(content)
      return "replay" in found ? found.replay : compared(real.compress(content), found.compare)
    },
    compressAsync: (content) => {
      const found = lookup(content)
      return "replay" in found ? Promise.resolve(found.replay) : real.compressAsync(content).then((out) => compared(out, found.compare))
    }
  }
  return { recorder, replayer, counts: () => ({ replayed, compressed, checked, differed }) }
}
