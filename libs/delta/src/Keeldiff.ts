/**
 * The patch of one file inside a content delta: the runs the Matcher found become, in new-file
 * order, "copy `extra` new bytes, then add `length` diff bytes to old bytes from `oldStart`", as in
 * bsdiff, with the control, diff and extra bytes as separate streams so the mostly-zero diff bytes
 * compress to little. The new file is cut into segments of at most 4 MiB, each one zstd frame, so
 * applying needs one segment in memory and reads the old file where the runs point; every number
 * in a segment is checked before it is used.
 */
import * as Zlib from "node:zlib"
import { Effect, Schema, Stream } from "effect"
import type { Run } from "./Matcher.ts"

export const segmentBytes = 4 << 20
/** A segment holds its control, diff and extra bytes; control is at most a few bytes per op. */
const maxDecoded = 3 * segmentBytes

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
  readonly level?: number
}

/** The patch turning `old` into `next`: segment records of [u32 frame size][u32 new bytes][zstd frame]. */
export const encode = (old: Uint8Array, next: Uint8Array, runs: ReadonlyArray<Run>, options: EncodeOptions = {}): Uint8Array => {
  const out = new Writer()
  let at = 0
  for (const segment of segmentsOf(opsOf(runs, next.length))) {
    const control = new Writer()
    const diff = new Writer()
    const extra = new Writer()
    control.varint(segment.length)
    let oldEnd = 0
    let produced = 0
    for (const op of segment) {
      control.varint(op.extra)
      control.varint(op.run)
      control.varint(zigzag(op.oldStart - oldEnd))
      extra.raw(next.subarray(at, at + op.extra))
      at += op.extra
      const added = new Uint8Array(op.run)
      for (let k = 0; k < op.run; k++) added[k] = (next[at + k]! - old[op.oldStart + k]!) & 0xff
      diff.raw(added)
      at += op.run
      oldEnd = op.oldStart + op.run
      produced += op.extra + op.run
    }
    const body = new Writer()
    body.varint(control.length)
    body.varint(diff.length)
    body.raw(control.done())
    body.raw(diff.done())
    body.raw(extra.done())
    const frame = Zlib.zstdCompressSync(body.done(), { params: { [Zlib.constants.ZSTD_c_compressionLevel]: options.level ?? 19, [Zlib.constants.ZSTD_c_checksumFlag]: 1 } })
    const head = new Uint8Array(8)
    const view = new DataView(head.buffer)
    view.setUint32(0, frame.length, true)
    view.setUint32(4, produced, true)
    out.raw(head)
    out.raw(frame)
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

/** One segment's new bytes, read at `at` in the patch, and where the next segment starts. */
const segment = <E, E2>(patch: Source<E>, old: Source<E2>, at: number, produced: number, size: number) =>
  Effect.gen(function*() {
    if (at + 8 > patch.size) return yield* bad("Malformed", "the patch ends inside a segment header")
    const headBytes = yield* patch.read(at, 8)
    const head = new DataView(headBytes.buffer, headBytes.byteOffset, headBytes.byteLength)
    const frameSize = head.getUint32(0, true)
    const segmentSize = head.getUint32(4, true)
    if (segmentSize > segmentBytes || at + 8 + frameSize > patch.size) return yield* bad("Malformed", `a segment of ${segmentSize} bytes in a frame of ${frameSize}`)
    if (produced + segmentSize > size) return yield* bad("OutOfRange", `the patch makes more than the file's ${size} bytes`)
    const frame = yield* patch.read(at + 8, frameSize)
    const body = yield* Effect.try({
      try: () => new Uint8Array(Zlib.zstdDecompressSync(frame, { maxOutputLength: maxDecoded })),
      catch: () => bad("Corrupt", "a segment does not decompress")
    })
    const decoded = yield* Effect.try({
      try: () => {
        const reader = new Reader(body)
        const controlLength = reader.varint()
        const diffLength = reader.varint()
        const control = new Reader(body.subarray(reader.at, reader.at + controlLength))
        const diffStart = reader.at + controlLength
        const extraStart = diffStart + diffLength
        if (extraStart > body.length) throw bad("Corrupt", "a segment is shorter than its streams")
        const count = control.varint()
        const ops: Array<Op> = []
        let oldEnd = 0
        let runs = 0
        let extras = 0
        for (let i = 0; i < count; i++) {
          const extra = control.varint()
          const run = control.varint()
          const oldStart = oldEnd + unzigzag(control.varint())
          if (oldStart < 0 || oldStart + run > old.size) throw bad("OutOfRange", `a run reads old bytes ${oldStart}..${oldStart + run} of ${old.size}`)
          ops.push({ extra, run, oldStart })
          oldEnd = oldStart + run
          runs += run
          extras += extra
          if (runs + extras > segmentSize) throw bad("OutOfRange", "a segment's ops make more than its size")
        }
        if (runs + extras !== segmentSize || runs !== diffLength || extraStart + extras !== body.length) throw bad("Corrupt", "a segment's streams do not add up")
        return { ops, diff: body.subarray(diffStart, extraStart), extra: body.subarray(extraStart) }
      },
      catch: (error) => error instanceof KeeldiffError ? error : bad("Corrupt", String(error))
    })
    const out = new Uint8Array(segmentSize)
    let o = 0
    let d = 0
    let e = 0
    for (const op of decoded.ops) {
      out.set(decoded.extra.subarray(e, e + op.extra), o)
      o += op.extra
      e += op.extra
      if (op.run > 0) {
        const base = yield* old.read(op.oldStart, op.run)
        if (base.length !== op.run) return yield* bad("OutOfRange", "the old file is shorter than a run")
        for (let k = 0; k < op.run; k++) out[o + k] = (base[k]! + decoded.diff[d + k]!) & 0xff
        o += op.run
        d += op.run
      }
    }
    return { bytes: out, next: at + 8 + frameSize }
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
