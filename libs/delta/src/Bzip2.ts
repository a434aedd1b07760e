/**
 * A bzip2 decoder that is fed compressed bytes and read decompressed bytes, a block at a time, so
 * memory stays bounded by one block (at most 900 kB before the final run-length stage) whatever
 * the stream's size. BSDIFF40 patches hold three bzip2 streams that are read side by side; Node
 * has no bzip2, and npm's decoders either want the whole input or push all output at once.
 *
 * Every block's CRC and the stream's combined CRC are checked; anything malformed fails with a
 * `Bzip2Error` naming what was wrong, never with a crash or an unbounded allocation.
 */
import * as Crc32 from "./Crc32.ts"

export class Bzip2Error extends Error {
  override readonly name = "Bzip2Error"
}

/** Thrown inside a decoding step when the buffered input ends; the step restarts after `feed`. */
const needInput = Symbol("needInput")

const blockMagic = [0x314159, 0x265359] as const
const endMagic = [0x177245, 0x385090] as const
const maxGroups = 6
const maxAlpha = 258
const maxCodeLength = 20
const maxSelectors = 18002
const groupSize = 50

/** A block after entropy decoding: the BWT vector ready for output. */
interface Block {
  readonly tt: Uint32Array
  readonly length: number
  readonly crc: number
  /** Position in the BWT chain and bytes of the chain emitted so far. */
  pos: number
  emitted: number
  /** Run-length (RLE1) state: the last byte, how many times in a row, and repeats still to write. */
  last: number
  run: number
  pending: number
  computed: number
}

export class Bzip2Decoder {
  /** Buffered compressed bytes: `buffer[0, length)`, read from bit `bitPos`. */
  private buffer = new Uint8Array(0)
  private length = 0
  private bitPos = 0
  private ended = false
  private level = 0
  private state: "header" | "blocks" | "done" = "header"
  private block: Block | null = null
  private combined = 0
  private tt: Uint32Array | null = null
  /**
   * After a step ran out of input it restarts only once the buffer has doubled, so feeding a
   * byte at a time costs linear, not quadratic, time.
   */
  private retryAt = 0

  /** Appends compressed bytes (dropping those already decoded; the buffer grows by doubling). */
  feed(bytes: Uint8Array): void {
    const consumed = this.bitPos >>> 3
    const kept = this.length - consumed
    if (kept + bytes.length > this.buffer.length) {
      const next = new Uint8Array(Math.max(2 * this.buffer.length, kept + bytes.length, 65536))
      next.set(this.buffer.subarray(consumed, this.length))
      this.buffer = next
    } else if (consumed > 0) {
      this.buffer.copyWithin(0, consumed, this.length)
    }
    this.buffer.set(bytes, kept)
    this.length = kept + bytes.length
    this.bitPos -= consumed * 8
  }

  /** No more compressed bytes will come. */
  end(): void {
    this.ended = true
  }

  /** Whether the stream (all its concatenated parts) has ended. */
  get done(): boolean {
    return this.state === "done"
  }

  /**
   * Up to `max` decompressed bytes. An empty array means more input is needed (`feed`, or `end`
   * when there is none); null means the stream is complete.
   */
  read(max: number): Uint8Array | null {
    const out = new Uint8Array(max)
    let filled = 0
    while (filled < max) {
      if (this.block !== null) {
        filled = this.emit(this.block, out, filled)
        if (this.block.emitted === this.block.length && this.block.pending === 0) this.finishBlock(this.block)
        continue
      }
      if (this.state === "done") break
      const buffered = this.length - (this.bitPos >>> 3)
      if (buffered < this.retryAt && !this.ended) break
      const start = this.bitPos
      try {
        if (this.state === "header") this.readStreamHeader()
        else this.readBlockOrEnd()
        this.retryAt = 0
      } catch (error) {
        if (error !== needInput) throw error
        this.bitPos = start
        if (this.ended) throw new Bzip2Error("the bzip2 stream is truncated")
        this.retryAt = Math.max(2 * buffered, 4096)
        break
      }
    }
    if (filled === 0 && this.state === "done") return null
    return out.subarray(0, filled)
  }

  private bits(n: number): number {
    let value = 0
    for (let i = 0; i < n; i++) {
      const byte = this.bitPos >>> 3
      if (byte >= this.length) throw needInput
      value = (value << 1) | ((this.buffer[byte]! >>> (7 - (this.bitPos & 7))) & 1)
      this.bitPos++
    }
    return value >>> 0
  }

  private readStreamHeader() {
    if ((this.bitPos >>> 3) >= this.length && this.ended && this.level > 0) {
      this.state = "done"
      return
    }
    const b = this.bits(8)
    const z = this.bits(8)
    const h = this.bits(8)
    const level = this.bits(8)
    if (b !== 0x42 || z !== 0x5a || h !== 0x68 || level < 0x31 || level > 0x39) throw new Bzip2Error("not a bzip2 stream (no BZh header)")
    this.level = level - 0x30
    this.combined = 0
    this.state = "blocks"
  }

  private readBlockOrEnd() {
    const hi = this.bits(24)
    const lo = this.bits(24)
    if (hi === endMagic[0] && lo === endMagic[1]) {
      const stored = this.bits(32)
      if (stored !== this.combined) throw new Bzip2Error(`the bzip2 stream CRC is ${stored.toString(16)}, its blocks give ${this.combined.toString(16)}`)
      // Streams may be concatenated: each starts at a byte boundary.
      this.bitPos = (this.bitPos + 7) & ~7
      if ((this.bitPos >>> 3) >= this.length) {
        if (!this.ended) throw needInput
        this.state = "done"
        return
      }
      this.state = "header"
      return
    }
    if (hi !== blockMagic[0] || lo !== blockMagic[1]) throw new Bzip2Error("bad bzip2 block header")
    this.block = this.readBlock()
  }

  private readBlock(): Block {
    const crc = this.bits(32)
    if (this.bits(1) !== 0) throw new Bzip2Error("randomised bzip2 blocks (bzip2 before 0.9.5) are not supported")
    const origPtr = this.bits(24)

    // Which byte values occur.
    const used16 = this.bits(16)
    const seqToUnseq: Array<number> = []
    for (let i = 0; i < 16; i++) {
      if (used16 & (0x8000 >>> i)) {
        const used = this.bits(16)
        for (let j = 0; j < 16; j++) if (used & (0x8000 >>> j)) seqToUnseq.push(i * 16 + j)
      }
    }
    if (seqToUnseq.length === 0) throw new Bzip2Error("a bzip2 block uses no symbols")
    const alphaSize = seqToUnseq.length + 2

    const groups = this.bits(3)
    const selectorCount = this.bits(15)
    if (groups < 2 || groups > maxGroups || selectorCount < 1) throw new Bzip2Error("bad bzip2 Huffman table count")
    const mtfGroups = Array.from({ length: groups }, (_, i) => i)
    const selectors = new Uint8Array(Math.min(selectorCount, maxSelectors))
    for (let i = 0; i < selectorCount; i++) {
      let j = 0
      while (this.bits(1) === 1) {
        j++
        if (j >= groups) throw new Bzip2Error("bad bzip2 selector")
      }
      const group = mtfGroups[j]!
      mtfGroups.splice(j, 1)
      mtfGroups.unshift(group)
      if (i < maxSelectors) selectors[i] = group
    }

    // Code lengths, delta-coded, then canonical decoding tables per group.
    const tables = Array.from({ length: groups }, () => {
      const lengths = new Uint8Array(alphaSize)
      let current = this.bits(5)
      for (let i = 0; i < alphaSize; i++) {
        while (true) {
          if (current < 1 || current > maxCodeLength) throw new Bzip2Error("bad bzip2 code length")
          if (this.bits(1) === 0) break
          current += this.bits(1) === 0 ? 1 : -1
        }
        lengths[i] = current
      }
      return huffmanTable(lengths)
    })

    const blockMax = this.level * 100_000
    const tt = this.tt !== null && this.tt.length >= blockMax ? this.tt : (this.tt = new Uint32Array(blockMax))
    const counts = new Uint32Array(256)
    const mtf = new Uint8Array(256)
    for (let i = 0; i < 256; i++) mtf[i] = i
    const endOfBlock = alphaSize - 1
    let length = 0
    let selector = 0
    let groupLeft = 0
    let table = tables[0]!
    let run = 0
    let runWeight = 1
    const nextSymbol = () => {
      if (groupLeft === 0) {
        if (selector >= selectors.length) throw new Bzip2Error("bzip2 data runs past its selectors")
        table = tables[selectors[selector++]!]!
        groupLeft = groupSize
      }
      groupLeft--
      let size = table.minLength
      let code = this.bits(size)
      while (true) {
        if (size > table.maxLength) throw new Bzip2Error("bad bzip2 Huffman code")
        if (code <= table.limit[size]!) break
        code = (code << 1) | this.bits(1)
        size++
      }
      const index = code - table.base[size]!
      if (index < 0 || index >= table.perm.length) throw new Bzip2Error("bad bzip2 Huffman code")
      return table.perm[index]!
    }
    const flushRun = () => {
      if (run === 0) return
      const value = seqToUnseq[mtf[0]!]!
      if (length + run > blockMax) throw new Bzip2Error("a bzip2 block is larger than its stream header allows")
      counts[value]! += run
      tt.fill(value, length, length + run)
      length += run
      run = 0
      runWeight = 1
    }
    while (true) {
      const symbol = nextSymbol()
      if (symbol === endOfBlock) break
      if (symbol <= 1) {
        // RUNA and RUNB: a run length in bijective base 2.
        run += (symbol + 1) * runWeight
        runWeight <<= 1
        if (run > blockMax) throw new Bzip2Error("a bzip2 run is larger than the block")
        continue
      }
      flushRun()
      const index = symbol - 1
      if (index >= seqToUnseq.length) throw new Bzip2Error("bad bzip2 move-to-front index")
      const moved = mtf[index]!
      mtf.copyWithin(1, 0, index)
      mtf[0] = moved
      if (length >= blockMax) throw new Bzip2Error("a bzip2 block is larger than its stream header allows")
      const value = seqToUnseq[moved]!
      counts[value]!++
      tt[length++] = value
    }
    flushRun()
    if (origPtr >= length) throw new Bzip2Error("bad bzip2 BWT origin")

    // Inverse BWT: link each position to the next, in the upper 24 bits.
    const cumulative = new Uint32Array(256)
    for (let i = 0, sum = 0; i < 256; i++) {
      cumulative[i] = sum
      sum += counts[i]!
    }
    for (let i = 0; i < length; i++) {
      const value = tt[i]! & 0xff
      tt[cumulative[value]!]! |= i << 8
      cumulative[value]!++
    }
    return { tt, length, crc, pos: tt[origPtr]! >>> 8, emitted: 0, last: -1, run: 0, pending: 0, computed: Crc32.initial }
  }

  /** Writes the block's bytes into `out` from `at`, undoing the run-length stage. */
  private emit(block: Block, out: Uint8Array, at: number): number {
    const tt = block.tt
    let crc = block.computed
    const put = (byte: number) => {
      out[at++] = byte
      crc = Crc32.update(crc, byte)
    }
    while (at < out.length) {
      if (block.pending > 0) {
        put(block.last)
        block.pending--
        continue
      }
      if (block.emitted === block.length) break
      const entry = tt[block.pos]!
      const byte = entry & 0xff
      block.pos = entry >>> 8
      block.emitted++
      if (block.run === 4) {
        block.pending = byte
        block.run = 0
        continue
      }
      if (byte === block.last) block.run++
      else {
        block.last = byte
        block.run = 1
      }
      put(byte)
    }
    block.computed = crc
    return at
  }

  private finishBlock(block: Block) {
    const crc = Crc32.finish(block.computed)
    if (crc !== block.crc) throw new Bzip2Error(`a bzip2 block's CRC is ${block.crc.toString(16)}, its data gives ${crc.toString(16)}`)
    this.combined = (((this.combined << 1) | (this.combined >>> 31)) ^ crc) >>> 0
    this.block = null
  }
}

interface HuffmanTable {
  readonly minLength: number
  readonly maxLength: number
  readonly limit: Int32Array
  readonly base: Int32Array
  readonly perm: Uint16Array
}

/** Canonical Huffman decoding tables (bzip2's limit/base/perm) from code lengths. */
const huffmanTable = (lengths: Uint8Array): HuffmanTable => {
  let minLength = maxCodeLength
  let maxLength = 0
  for (const length of lengths) {
    minLength = Math.min(minLength, length)
    maxLength = Math.max(maxLength, length)
  }
  const perm = new Uint16Array(lengths.length)
  let p = 0
  for (let size = minLength; size <= maxLength; size++) {
    for (let symbol = 0; symbol < lengths.length; symbol++) if (lengths[symbol] === size) perm[p++] = symbol
  }
  const limit = new Int32Array(maxCodeLength + 2).fill(-1)
  const base = new Int32Array(maxCodeLength + 2)
  const countOf = new Int32Array(maxCodeLength + 2)
  for (const length of lengths) countOf[length]!++
  let code = 0
  let index = 0
  for (let size = minLength; size <= maxLength; size++) {
    base[size] = code - index
    code += countOf[size]!
    index += countOf[size]!
    limit[size] = code - 1
    code <<= 1
  }
  if (maxAlpha < lengths.length) throw new Bzip2Error("bad bzip2 alphabet")
  return { minLength, maxLength, limit, base, perm }
}
