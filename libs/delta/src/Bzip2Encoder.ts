/**
 * A bzip2 encoder, so patches can be written without a native bzip2: run-length (RLE1), a
 * Burrows-Wheeler transform by sorting rotations, move-to-front with zero runs, and one canonical
 * Huffman table per block. It trades compression ratio and speed for being small and obviously
 * right: the rotation sort compares bytes directly, so it is meant for blocks of patch streams and
 * test data, not for compressing whole images. Its output is standard bzip2 (Debian's bzip2 reads
 * it), with block and stream CRCs.
 */
import * as Crc32 from "./Crc32.ts"

/** Input bytes per block: run-length coding can grow them by a quarter, and a level-9 block holds 900 kB. */
const blockInput = 700_000
const maxCodeLength = 17

class BitWriter {
  private bytes: Array<number> = []
  private current = 0
  private count = 0

  write(bits: number, value: number) {
    for (let i = bits - 1; i >= 0; i--) {
      this.current = (this.current << 1) | ((value >>> i) & 1)
      if (++this.count === 8) {
        this.bytes.push(this.current)
        this.current = 0
        this.count = 0
      }
    }
  }

  finish(): Uint8Array {
    if (this.count > 0) this.bytes.push(this.current << (8 - this.count))
    return Uint8Array.from(this.bytes)
  }
}

/** RLE1: runs of 4 to 255 equal bytes become the 4 bytes and a count of the rest. */
const runLength = (input: Uint8Array): Uint8Array => {
  const out: Array<number> = []
  let i = 0
  while (i < input.length) {
    const byte = input[i]!
    let run = 1
    while (i + run < input.length && input[i + run] === byte && run < 255) run++
    if (run >= 4) {
      out.push(byte, byte, byte, byte, run - 4)
    } else {
      for (let k = 0; k < run; k++) out.push(byte)
    }
    i += run
  }
  return Uint8Array.from(out)
}

/** The BWT: the last column of the sorted rotations, and the row of the original. */
const burrowsWheeler = (block: Uint8Array): { readonly last: Uint8Array; readonly origin: number } => {
  const n = block.length
  const rotations = Array.from({ length: n }, (_, i) => i)
  rotations.sort((a, b) => {
    for (let k = 0; k < n; k++) {
      const x = block[(a + k) % n]!
      const y = block[(b + k) % n]!
      if (x !== y) return x - y
    }
    return 0
  })
  const last = new Uint8Array(n)
  let origin = 0
  for (let row = 0; row < n; row++) {
    const start = rotations[row]!
    if (start === 0) origin = row
    last[row] = block[(start + n - 1) % n]!
  }
  return { last, origin }
}

/** Code lengths (at most `maxCodeLength`) for symbol frequencies, by Huffman with flattening. */
const codeLengths = (frequencies: ReadonlyArray<number>): Uint8Array => {
  let weights = frequencies.map((f) => Math.max(1, f))
  while (true) {
    const lengths = new Uint8Array(weights.length)
    // Nodes: [weight, symbols under it]; merge the two lightest until one remains.
    let nodes = weights.map((weight, symbol) => ({ weight, symbols: [symbol] }))
    while (nodes.length > 1) {
      nodes.sort((a, b) => a.weight - b.weight)
      const [a, b] = [nodes[0]!, nodes[1]!]
      for (const symbol of [...a.symbols, ...b.symbols]) lengths[symbol]!++
      nodes = [{ weight: a.weight + b.weight, symbols: [...a.symbols, ...b.symbols] }, ...nodes.slice(2)]
    }
    if (weights.length === 1) lengths[0] = 1
    if (Math.max(...lengths) <= maxCodeLength) return lengths
    weights = weights.map((w) => 1 + (w >> 1))
  }
}

/** Canonical codes for lengths, as bzip2 assigns them (by length, then by symbol). */
const canonicalCodes = (lengths: Uint8Array): Uint32Array => {
  const codes = new Uint32Array(lengths.length)
  let code = 0
  for (let size = 1; size <= maxCodeLength; size++) {
    for (let symbol = 0; symbol < lengths.length; symbol++) if (lengths[symbol] === size) codes[symbol] = code++
    code <<= 1
  }
  return codes
}

const crcOf = (data: Uint8Array): number => {
  let crc = Crc32.initial
  for (const byte of data) crc = Crc32.update(crc, byte)
  return Crc32.finish(crc)
}

const writeBlock = (out: BitWriter, input: Uint8Array): number => {
  const crc = crcOf(input)
  const { last, origin } = burrowsWheeler(runLength(input))

  const used = new Array<boolean>(256).fill(false)
  for (const byte of last) used[byte] = true
  const unseqToSeq = new Array<number>(256).fill(-1)
  let inUse = 0
  for (let i = 0; i < 256; i++) if (used[i]) unseqToSeq[i] = inUse++
  const alphaSize = inUse + 2
  const endOfBlock = alphaSize - 1

  // Move-to-front over the used symbols, zero runs as RUNA/RUNB (bijective base 2).
  const symbols: Array<number> = []
  const mtf = Array.from({ length: inUse }, (_, i) => i)
  let zeros = 0
  const flushZeros = () => {
    while (zeros > 0) {
      zeros--
      symbols.push(zeros & 1)
      zeros >>= 1
    }
  }
  for (const byte of last) {
    const seq = unseqToSeq[byte]!
    const index = mtf.indexOf(seq)
    if (index === 0) {
      zeros++
      continue
    }
    flushZeros()
    mtf.splice(index, 1)
    mtf.unshift(seq)
    symbols.push(index + 1)
  }
  flushZeros()
  symbols.push(endOfBlock)

  const frequencies = new Array<number>(alphaSize).fill(0)
  for (const symbol of symbols) frequencies[symbol]!++
  const lengths = codeLengths(frequencies)
  const codes = canonicalCodes(lengths)

  out.write(24, 0x314159)
  out.write(24, 0x265359)
  out.write(32, crc)
  out.write(1, 0)
  out.write(24, origin)
  // The used-bytes map: 16 ranges, then 16 bits for each range that has any.
  let ranges = 0
  for (let i = 0; i < 16; i++) if (used.slice(i * 16, i * 16 + 16).some(Boolean)) ranges |= 0x8000 >>> i
  out.write(16, ranges)
  for (let i = 0; i < 16; i++) {
    if (!(ranges & (0x8000 >>> i))) continue
    let bits = 0
    for (let j = 0; j < 16; j++) if (used[i * 16 + j]) bits |= 0x8000 >>> j
    out.write(16, bits)
  }
  // Two identical tables (bzip2 needs at least two); every group of 50 symbols uses the first.
  const groups = 2
  const selectors = Math.ceil(symbols.length / 50)
  out.write(3, groups)
  out.write(15, selectors)
  for (let i = 0; i < selectors; i++) out.write(1, 0)
  for (let t = 0; t < groups; t++) {
    let current = lengths[0]!
    out.write(5, current)
    for (let i = 0; i < alphaSize; i++) {
      while (current < lengths[i]!) {
        out.write(2, 2)
        current++
      }
      while (current > lengths[i]!) {
        out.write(2, 3)
        current--
      }
      out.write(1, 0)
    }
  }
  for (const symbol of symbols) out.write(lengths[symbol]!, codes[symbol]!)
  return crc
}

/** Compresses `input` into one bzip2 stream (level 9 blocks). */
export const compress = (input: Uint8Array): Uint8Array => {
  const out = new BitWriter()
  out.write(8, 0x42)
  out.write(8, 0x5a)
  out.write(8, 0x68)
  out.write(8, 0x39)
  let combined = 0
  for (let at = 0; at < input.length; at += blockInput) {
    const crc = writeBlock(out, input.subarray(at, Math.min(input.length, at + blockInput)))
    combined = (((combined << 1) | (combined >>> 31)) ^ crc) >>> 0
  }
  out.write(24, 0x177245)
  out.write(24, 0x385090)
  out.write(32, combined)
  return out.finish()
}
