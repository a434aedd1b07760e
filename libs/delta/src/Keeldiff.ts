/**
 * The patch of one file inside a content delta: the runs the Matcher found become, in new-file
 * order, "copy `extra` new bytes, then add `length` diff bytes to old bytes from `oldStart`", as in
 * bsdiff. The new file is cut into segments of at most 4 MiB, so applying needs one segment in
 * memory and reads the old file where the runs point; every number in a segment is checked before
 * it is used.
 *
 * A segment is two zstd frames. The first holds the control numbers and the diff bytes, sparse:
 * about 98% of them are zero in a new build of an executable, so only the others are written, each
 * as the count of zeros before it and its value. Sparse diff bytes compress at zstd level 9 within a
 * few percent of what level 19 gets from the dense ones, at about a hundredth of the time. The
 * second frame holds the extra bytes, the new content itself, where level 19 is worth its time.
 *
 * Segment record: [u32 first frame size][u32 second frame size][u32 new bytes][first][second].
 */
import * as Zlib from "node:zlib"
import { Effect, Schema, Stream } from "effect"
import type { Run } from "./Matcher.ts"

export const segmentBytes = 4 << 20
/**
 * The first frame's bound: every op makes at least one new byte and takes at most 13 bytes of
 * numbers, every nonzero diff byte at most 5 (its count of zeros and itself), so a segment's
 * control and diff bytes are at most 18 bytes per new byte (a real one: a few percent of that).
 */
const maxControlAndDiff = 18 * segmentBytes + 16
const recordHead = 12

export class KeeldiffError extends Schema.TaggedError<KeeldiffError>()("KeeldiffError", {
  reason: Schema.Literals(["Malformed", "Corrupt", "OutOfRange"]),
  detail: Schema.String
}) {
  override get message(): string {
    return `keeldiff: ${this.reason}: ${this.detail}`
  }
}

interface Op {
  readonly extra: number
  readonly run: number
  readonly oldStart: number
}

class Writer {
  private bytes = new Uint8Array(1024)
  length = 0
  private ensure(n: number) {
    if (this.length + n <= this.bytes.length) return
    const grown = new Uint8Array(Math.max(this.bytes.length * 2, this.length + n))
    grown.set(this.bytes.subarray(0, this.length))
    this.bytes = grown
  }
  varint(value: number) {
    this.ensure(10)
    let v = value
    while (v >= 0x80) {
      this.bytes[this.length++] = (v % 0x80) | 0x80
      v = Math.floor(v / 0x80)
    }
    this.bytes[this.length++] = v
  }
  byte(value: number) {
    this.ensure(1)
    this.bytes[this.length++] = value
  }
  raw(bytes: Uint8Array) {
    this.ensure(bytes.length)
    this.bytes.set(bytes, this.length)
    this.length += bytes.length
  }
  done(): Uint8Array {
    return this.bytes.subarray(0, this.length)
  }
}

const zigzag = (n: number) => (n >= 0 ? n * 2 : -n * 2 - 1)
const unzigzag = (n: number) => (n % 2 === 0 ? n / 2 : -(n + 1) / 2)

/** The ops covering `next` from the runs: new bytes before each run, then the run. */
const opsOf = (runs: ReadonlyArray<Run>, size: number): Array<Op> => {
  const ops: Array<Op> = []
  let at = 0
  for (const run of runs) {
    ops.push({ extra: run.newStart - at, run: run.length, oldStart: run.oldStart })
    at = run.newStart + run.length
  }
  if (at < size || ops.length === 0) ops.push({ extra: size - at, run: 0, oldStart: 0 })
  return ops
}

/** Splits ops at every `segmentBytes` of new output. */
const segmentsOf = (ops: ReadonlyArray<Op>): Array<Array<Op>> => {
  const segments: Array<Array<Op>> = [[]]
  let room = segmentBytes
  for (const op of ops) {
    let { extra, oldStart, run } = op
    while (extra + run > room) {
      const extraHere = Math.min(extra, room)
      const runHere = Math.min(run, room - extraHere)
      segments.at(-1)!.push({ extra: extraHere, run: runHere, oldStart })
      extra -= extraHere
      run -= runHere
      oldStart += runHere
      segments.push([])
      room = segmentBytes
    }
    if (extra + run > 0) {
      segments.at(-1)!.push({ extra, run, oldStart })
      room -= extra + run
    }
  }
  return segments.filter((segment) => segment.length > 0)
}

export interface EncodeOptions {
  /** zstd level of the extra bytes (19 unless told). */
  readonly level?: number
  /** zstd level of the control numbers and the sparse diff bytes (9 unless told). */
  readonly diffLevel?: number
}

const zstd = (bytes: Uint8Array, level: number) =>
  Zlib.zstdCompressSync(bytes, { params: { [Zlib.constants.ZSTD_c_compressionLevel]: level, [Zlib.constants.ZSTD_c_checksumFlag]: 1 } })

/** The patch turning `old` into `next`, as segment records. */
export const encode = (old: Uint8Array, next: Uint8Array, runs: ReadonlyArray<Run>, options: EncodeOptions = {}): Uint8Array => {
  const out = new Writer()
  let at = 0
  for (const segment of segmentsOf(opsOf(runs, next.length))) {
    const control = new Writer()
    const gaps = new Writer()
    const values = new Writer()
    const extra = new Writer()
    control.varint(segment.length)
    let oldEnd = 0
    let produced = 0
    // Zeros since the last nonzero diff byte, counted across the segment's runs.
    let zeros = 0
    for (const op of segment) {
      control.varint(op.extra)
      control.varint(op.run)
      control.varint(zigzag(op.oldStart - oldEnd))
      extra.raw(next.subarray(at, at + op.extra))
      at += op.extra
      for (let k = 0; k < op.run; k++) {
        const added = (next[at + k]! - old[op.oldStart + k]!) & 0xff
        if (added === 0) {
          zeros++
        } else {
          gaps.varint(zeros)
          values.byte(added)
          zeros = 0
        }
      }
      at += op.run
      oldEnd = op.oldStart + op.run
      produced += op.extra + op.run
    }
    const first = new Writer()
    first.varint(control.length)
    first.varint(gaps.length)
    first.raw(control.done())
    first.raw(gaps.done())
    first.raw(values.done())
    const streams = zstd(first.done(), options.diffLevel ?? 9)
    const extraFrame = extra.length === 0 ? new Uint8Array(0) : zstd(extra.done(), options.level ?? 19)
    const head = new Uint8Array(recordHead)
    const view = new DataView(head.buffer)
    view.setUint32(0, streams.length, true)
    view.setUint32(4, extraFrame.length, true)
    view.setUint32(8, produced, true)
    out.raw(head)
    out.raw(streams)
    out.raw(extraFrame)
  }
  return out.done()
}

/** Random access to a patch or an old file. */
export interface Source<E> {
  readonly size: number
  readonly read: (offset: number, length: number) => Effect.Effect<Uint8Array, E>
}

const bad = (reason: KeeldiffError["reason"], detail: string) => new KeeldiffError({ reason, detail })

class Reader {
  at = 0
  readonly bytes: Uint8Array
  constructor(bytes: Uint8Array) {
    this.bytes = bytes
  }
  varint(): number {
    let value = 0
    let scale = 1
    for (let i = 0; i < 8; i++) {
      if (this.at >= this.bytes.length) throw bad("Corrupt", "a number runs past its segment")
      const byte = this.bytes[this.at++]!
      value += (byte & 0x7f) * scale
      if ((byte & 0x80) === 0) return value
      scale *= 0x80
    }
    throw bad("Corrupt", "a number longer than 8 bytes")
  }
}

const unzstd = (frame: Uint8Array, max: number, what: string) =>
  Effect.try({
    try: () => new Uint8Array(Zlib.zstdDecompressSync(frame, { maxOutputLength: max })),
    catch: () => bad("Corrupt", `a segment's ${what} do not decompress`)
  })

/**
 * A segment's ops, read one at a time as they are applied (a corrupt count cannot make a list of
 * millions first), each number checked against the segment and the old file.
 */
class Control {
  readonly count: number
  readonly gaps: Reader
  readonly values: Uint8Array
  private readonly control: Reader
  private readonly segmentSize: number
  private readonly oldSize: number
  private oldEnd = 0
  private made = 0
  private extras = 0

  constructor(body: Uint8Array, segmentSize: number, oldSize: number) {
    this.segmentSize = segmentSize
    this.oldSize = oldSize
    const reader = new Reader(body)
    const controlLength = reader.varint()
    const gapsLength = reader.varint()
    const gapsStart = reader.at + controlLength
    const valuesStart = gapsStart + gapsLength
    if (valuesStart > body.length) throw bad("Corrupt", "a segment is shorter than its streams")
    this.control = new Reader(body.subarray(reader.at, gapsStart))
    this.count = this.control.varint()
    this.gaps = new Reader(body.subarray(gapsStart, valuesStart))
    this.values = body.subarray(valuesStart)
  }

  next(): Op {
    const extra = this.control.varint()
    const run = this.control.varint()
    const oldStart = this.oldEnd + unzigzag(this.control.varint())
    if (extra + run === 0) throw bad("Corrupt", "an op that makes nothing")
    if (oldStart < 0 || oldStart + run > this.oldSize) throw bad("OutOfRange", `a run reads old bytes ${oldStart}..${oldStart + run} of ${this.oldSize}`)
    this.oldEnd = oldStart + run
    this.made += extra + run
    this.extras += extra
    if (this.made > this.segmentSize) throw bad("OutOfRange", "a segment's ops make more than its size")
    return { extra, run, oldStart }
  }

  /** Every op read made the segment, its extra bytes and nothing else. */
  done(extraLength: number): boolean {
    return this.made === this.segmentSize && this.extras === extraLength && this.control.at === this.control.bytes.length
  }
}

/**
 * The nonzero diff bytes of a segment, added run after run: positions count in the diff bytes' own
 * space (the segment's runs end to end), each the zeros since the previous one.
 */
class SparseDiff {
  private readonly gaps: Reader
  private readonly values: Uint8Array
  private taken = 0
  /** Where the runs added so far end, in the diff bytes' space. */
  private runsEnd = 0
  private next: number

  constructor(gaps: Reader, values: Uint8Array) {
    this.gaps = gaps
    this.values = values
    this.next = this.following(-1)
  }

  private following(after: number): number {
    if (this.gaps.at >= this.gaps.bytes.length) return Infinity
    if (this.taken >= this.values.length) throw bad("Corrupt", "a segment has fewer diff values than positions")
    return after + 1 + this.gaps.varint()
  }

  /** Adds the diff bytes of the next run, `length` bytes at `at` in `out`. */
  addTo(out: Uint8Array, at: number, length: number) {
    const start = this.runsEnd
    this.runsEnd += length
    while (this.next < this.runsEnd) {
      const k = at + this.next - start
      out[k] = (out[k]! + this.values[this.taken++]!) & 0xff
      this.next = this.following(this.next)
    }
  }

  /** Every value taken, and no position beyond the runs. */
  done(): boolean {
    return this.next === Infinity && this.taken === this.values.length
  }
}

/** One segment's new bytes, read at `at` in the patch, and where the next segment starts. */
const segment = <E, E2>(patch: Source<E>, old: Source<E2>, at: number, produced: number, size: number) =>
  Effect.gen(function*() {
    if (at + recordHead > patch.size) return yield* bad("Malformed", "the patch ends inside a segment header")
    const headBytes = yield* patch.read(at, recordHead)
    const head = new DataView(headBytes.buffer, headBytes.byteOffset, headBytes.byteLength)
    const streamsSize = head.getUint32(0, true)
    const extraSize = head.getUint32(4, true)
    const segmentSize = head.getUint32(8, true)
    const end = at + recordHead + streamsSize + extraSize
    if (segmentSize > segmentBytes || end > patch.size) return yield* bad("Malformed", `a segment of ${segmentSize} bytes in frames of ${streamsSize} and ${extraSize}`)
    if (produced + segmentSize > size) return yield* bad("OutOfRange", `the patch makes more than the file's ${size} bytes`)
    const body = yield* unzstd(yield* patch.read(at + recordHead, streamsSize), maxControlAndDiff, "control and diff bytes")
    const extra = extraSize === 0 ? new Uint8Array(0) : yield* unzstd(yield* patch.read(at + recordHead + streamsSize, extraSize), segmentSize, "extra bytes")
    const corrupt = (error: unknown) => error instanceof KeeldiffError ? error : bad("Corrupt", String(error))
    const control = yield* Effect.try({ try: () => new Control(body, segmentSize, old.size), catch: corrupt })
    const diff = yield* Effect.try({ try: () => new SparseDiff(control.gaps, control.values), catch: corrupt })
    const out = new Uint8Array(segmentSize)
    let o = 0
    let e = 0
    for (let i = 0; i < control.count; i++) {
      const op = yield* Effect.try({ try: () => control.next(), catch: corrupt })
      if (e + op.extra > extra.length) return yield* bad("Corrupt", "a segment's ops take more extra bytes than it has")
      out.set(extra.subarray(e, e + op.extra), o)
      o += op.extra
      e += op.extra
      if (op.run === 0) continue
      const base = yield* old.read(op.oldStart, op.run)
      if (base.length !== op.run) return yield* bad("OutOfRange", "the old file is shorter than a run")
      out.set(base, o)
      const at = o
      yield* Effect.try({ try: () => diff.addTo(out, at, op.run), catch: corrupt })
      o += op.run
    }
    if (!control.done(extra.length)) return yield* bad("Corrupt", "a segment's streams do not add up")
    if (!diff.done()) return yield* bad("Corrupt", "a segment's diff bytes lie outside its runs")
    return { bytes: out, next: end }
  })

/**
 * The new file's bytes, a segment at a time, from a patch of `size` new bytes and the old file.
 * Fails with a KeeldiffError when the patch is malformed or points outside the old file.
 */
export const stream = <E, E2>(patch: Source<E>, old: Source<E2>, size: number): Stream.Stream<Uint8Array, KeeldiffError | E | E2> =>
  Stream.unfold({ at: 0, produced: 0 }, ({ at, produced }) => {
    if (at >= patch.size) {
      return produced === size ? Effect.succeed(undefined) : Effect.fail(bad("Malformed", `the patch makes ${produced} bytes, not ${size}`))
    }
    return Effect.map(segment(patch, old, at, produced, size), ({ bytes, next }) => [bytes, { at: next, produced: produced + bytes.length }] as const)
  })

/** Applies a patch, handing each segment's bytes to `emit`. */
export const apply = <E, E2, E3>(
  patch: Source<E>,
  old: Source<E2>,
  size: number,
  emit: (bytes: Uint8Array) => Effect.Effect<void, E3>
): Effect.Effect<void, KeeldiffError | E | E2 | E3> => Stream.runForEach(stream(patch, old, size), emit)
