/**
 * Applies a BSDIFF40 patch (what Debian's bsdiff 4.3 writes) as a stream: the old image is read
 * where the control block points, the new image is produced front to back in chunks for the caller
 * to write and hash, and the patch's three bzip2 streams are decoded side by side a block at a
 * time. Memory is three bzip2 blocks and a chunk, whatever the image size. Every length in the
 * patch is checked before it is used, so a corrupt patch fails with a `BspatchError`, never by
 * writing past the new size or reading outside the patch.
 */
import { Effect, Schema } from "effect"
import { Bzip2Decoder, Bzip2Error } from "./Bzip2.ts"

export class BspatchError extends Schema.TaggedError<BspatchError>()("BspatchError", {
  reason: Schema.Literals(["Malformed", "Corrupt", "Truncated"]),
  detail: Schema.String
}) {
  override get message(): string {
    return `bspatch: ${this.reason}: ${this.detail}`
  }
}

/** Random-access bytes: the patch, or the old image on the active slot. */
export interface Source<E> {
  readonly size: number
  readonly read: (offset: number, length: number) => Effect.Effect<Uint8Array, E>
}

export interface Header {
  readonly controlBytes: number
  readonly diffBytes: number
  readonly newSize: number
}

const headerBytes = 32
const magic = "BSDIFF40"

/** bsdiff's 8-byte integers: little-endian magnitude, sign in the top bit. */
const offtin = (bytes: Uint8Array, at: number): number => {
  let value = bytes[at + 7]! & 0x7f
  for (let i = 6; i >= 0; i--) value = value * 256 + bytes[at + i]!
  if (!Number.isSafeInteger(value)) return Number.NaN
  return bytes[at + 7]! & 0x80 ? -value : value
}

const malformed = (detail: string) => new BspatchError({ reason: "Malformed", detail })

export const parseHeader = (bytes: Uint8Array, patchSize: number): Header | BspatchError => {
  if (bytes.length < headerBytes || new TextDecoder().decode(bytes.subarray(0, 8)) !== magic) return malformed("not a BSDIFF40 patch")
  const controlBytes = offtin(bytes, 8)
  const diffBytes = offtin(bytes, 16)
  const newSize = offtin(bytes, 24)
  if (!(controlBytes >= 0 && diffBytes >= 0 && newSize >= 0) || headerBytes + controlBytes + diffBytes > patchSize) {
    return malformed(`the header's lengths (control ${controlBytes}, diff ${diffBytes}, new ${newSize}) do not fit a ${patchSize}-byte patch`)
  }
  return { controlBytes, diffBytes, newSize }
}

/** Compressed bytes fed to a decoder from one region of the patch, a chunk at a time. */
const region = <E>(patch: Source<E>, start: number, end: number, chunkBytes: number) => {
  const decoder = new Bzip2Decoder()
  let next = start
  const decodeError = (error: unknown) =>
    error instanceof Bzip2Error
      ? new BspatchError({ reason: error.message.includes("truncated") ? "Truncated" : "Corrupt", detail: error.message })
      : new BspatchError({ reason: "Corrupt", detail: String(error) })
  /** Exactly `length` decompressed bytes. */
  const take = (length: number, what: string): Effect.Effect<Uint8Array, BspatchError | E> =>
    Effect.gen(function*() {
      const out = new Uint8Array(length)
      let got = 0
      while (got < length) {
        const chunk = yield* Effect.try({ try: () => decoder.read(length - got), catch: decodeError })
        if (chunk === null) return yield* new BspatchError({ reason: "Truncated", detail: `the ${what} stream ended ${length - got} bytes early` })
        if (chunk.length > 0) {
          out.set(chunk, got)
          got += chunk.length
          continue
        }
        if (next >= end) {
          decoder.end()
          continue
        }
        const n = Math.min(chunkBytes, end - next)
        decoder.feed(yield* patch.read(next, n))
        next += n
      }
      return out
    })
  /** The stream must end here: its last block's and its own CRC are checked, nothing may follow. */
  const finish = (what: string): Effect.Effect<void, BspatchError | E> =>
    Effect.gen(function*() {
      while (true) {
        const chunk = yield* Effect.try({ try: () => decoder.read(1), catch: decodeError })
        if (chunk === null) return
        if (chunk.length > 0) return yield* new BspatchError({ reason: "Corrupt", detail: `the ${what} stream holds more than the control block uses` })
        if (next >= end) decoder.end()
        else {
          const n = Math.min(chunkBytes, end - next)
          decoder.feed(yield* patch.read(next, n))
          next += n
        }
      }
    })
  return { take, finish }
}

export interface ApplyOptions {
  /** Bytes of new image handed to the sink at a time (1 MiB by default). */
  readonly chunkBytes?: number
}

/**
 * Produces the new image from `old` and `patch`, handing it to `sink` in order; returns the new
 * size. The caller verifies the result's digest: a patch proves nothing by itself.
 */
export const apply = Effect.fn("Bspatch.apply")(function*<E1, E2, E3>(
  patch: Source<E1>,
  old: Source<E2>,
  sink: (chunk: Uint8Array) => Effect.Effect<void, E3>,
  options: ApplyOptions = {}
) {
  const chunkBytes = options.chunkBytes ?? 1 << 20
  const header = parseHeader(yield* patch.read(0, Math.min(headerBytes, patch.size)), patch.size)
  if (header instanceof BspatchError) return yield* header
  const controlStart = headerBytes
  const diffStart = controlStart + header.controlBytes
  const extraStart = diffStart + header.diffBytes
  const control = region(patch, controlStart, diffStart, chunkBytes)
  const diff = region(patch, diffStart, extraStart, chunkBytes)
  const extra = region(patch, extraStart, patch.size, chunkBytes)

  let newPos = 0
  let oldPos = 0
  while (newPos < header.newSize) {
    const triple = yield* control.take(24, "control")
    const add = offtin(triple, 0)
    const copy = offtin(triple, 8)
    const seek = offtin(triple, 16)
    if (!(add >= 0 && copy >= 0) || Number.isNaN(seek) || newPos + add + copy > header.newSize) {
      return yield* new BspatchError({ reason: "Corrupt", detail: `a control entry (${add}, ${copy}, ${seek}) at new offset ${newPos} runs past the new size ${header.newSize}` })
    }
    // Diff bytes added to the old image's bytes (those that exist) at oldPos.
    for (let done = 0; done < add;) {
      const n = Math.min(chunkBytes, add - done)
      const bytes = yield* diff.take(n, "diff")
      const from = Math.max(0, oldPos)
      const to = Math.min(old.size, oldPos + n)
      if (to > from) {
        const base = yield* old.read(from, to - from)
        for (let i = 0, at = from - oldPos; i < base.length; i++, at++) bytes[at] = (bytes[at]! + base[i]!) & 0xff
      }
      yield* sink(bytes)
      done += n
      oldPos += n
      newPos += n
    }
    for (let done = 0; done < copy;) {
      const n = Math.min(chunkBytes, copy - done)
      yield* sink(yield* extra.take(n, "extra"))
      done += n
      newPos += n
    }
    oldPos += seek
  }
  yield* control.finish("control")
  yield* diff.finish("diff")
  yield* extra.finish("extra")
  return header.newSize
}) as <E1, E2, E3>(
  patch: Source<E1>,
  old: Source<E2>,
  sink: (chunk: Uint8Array) => Effect.Effect<void, E3>,
  options?: ApplyOptions
) => Effect.Effect<number, BspatchError | E1 | E2 | E3>
