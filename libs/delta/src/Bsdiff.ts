/**
 * Writes BSDIFF40 patches (the format Debian's bspatch applies) without the bsdiff binary: a
 * greedy matcher over 8-byte windows of the old image finds where the new one copies it, each match
 * is extended across small changes (they become non-zero diff bytes, which compress to little),
 * and what matches nothing goes in the extra stream. Patches are valid and small for small
 * changes, though larger than bsdiff's suffix-array search would make; memory is the old image's
 * window index, so this is for modest inputs (the simulator's images, tests), not whole OS images.
 */
import * as Bzip2Encoder from "./Bzip2Encoder.ts"

const window = 8
/** Matches shorter than this are not worth a control entry. */
const minMatch = 16
/** Old positions remembered per window value. */
const candidatesPerWindow = 4

interface Match {
  readonly oldStart: number
  readonly newStart: number
  readonly length: number
}

const key = (bytes: Uint8Array, at: number): number => {
  let h = 0
  for (let i = 0; i < window; i++) h = (Math.imul(h, 31) + bytes[at + i]!) | 0
  return h
}

const indexOld = (old: Uint8Array): Map<number, Array<number>> => {
  const index = new Map<number, Array<number>>()
  for (let at = 0; at + window <= old.length; at++) {
    const k = key(old, at)
    const list = index.get(k)
    if (list === undefined) index.set(k, [at])
    else if (list.length < candidatesPerWindow) list.push(at)
  }
  return index
}

/** How far a match from (o, n) reaches, carried across scattered changed bytes. */
const extend = (old: Uint8Array, next: Uint8Array, o: number, n: number): number => {
  let length = 0
  let best = 0
  let score = 0
  let bestScore = 0
  while (o + length < old.length && n + length < next.length) {
    score += old[o + length] === next[n + length] ? 1 : -3
    length++
    if (score > bestScore) {
      bestScore = score
      best = length
    }
    if (score < bestScore - 32) break
  }
  return best
}

const findMatches = (old: Uint8Array, next: Uint8Array): Array<Match> => {
  const index = indexOld(old)
  const matches: Array<Match> = []
  let n = 0
  while (n + window <= next.length) {
    let found: Match | null = null
    for (const o of index.get(key(next, n)) ?? []) {
      const length = extend(old, next, o, n)
      if (length >= minMatch && (found === null || length > found.length)) found = { oldStart: o, newStart: n, length }
    }
    if (found === null) {
      n++
      continue
    }
    matches.push(found)
    n += found.length
  }
  return matches
}

/** bsdiff's 8-byte integers: little-endian magnitude, sign in the top bit. */
const offtout = (value: number, out: Uint8Array, at: number) => {
  let magnitude = Math.abs(value)
  for (let i = 0; i < 8; i++) {
    out[at + i] = magnitude % 256
    magnitude = Math.floor(magnitude / 256)
  }
  if (value < 0) out[at + 7]! |= 0x80
}

class Bytes {
  private parts: Array<Uint8Array> = []
  size = 0
  push(bytes: Uint8Array) {
    this.parts.push(bytes)
    this.size += bytes.length
  }
  concat(): Uint8Array {
    const out = new Uint8Array(this.size)
    let at = 0
    for (const part of this.parts) {
      out.set(part, at)
      at += part.length
    }
    return out
  }
}

/** A BSDIFF40 patch that turns `old` into `next`. */
export const diff = (old: Uint8Array, next: Uint8Array): Uint8Array => {
  const matches = findMatches(old, next)
  const control = new Bytes()
  const diffBytes = new Bytes()
  const extra = new Bytes()
  const entry = (add: number, copy: number, seek: number) => {
    const bytes = new Uint8Array(24)
    offtout(add, bytes, 0)
    offtout(copy, bytes, 8)
    offtout(seek, bytes, 16)
    control.push(bytes)
  }
  // Before the first match: new bytes as extra, then a seek to where the match reads.
  const first = matches[0]
  const lead = first === undefined ? next.length : first.newStart
  entry(0, lead, first === undefined ? 0 : first.oldStart)
  extra.push(next.subarray(0, lead))
  matches.forEach((match, i) => {
    const added = new Uint8Array(match.length)
    for (let k = 0; k < match.length; k++) added[k] = (next[match.newStart + k]! - old[match.oldStart + k]!) & 0xff
    diffBytes.push(added)
    const following = matches[i + 1]
    const copyEnd = following === undefined ? next.length : following.newStart
    const copy = copyEnd - (match.newStart + match.length)
    extra.push(next.subarray(match.newStart + match.length, copyEnd))
    const seek = following === undefined ? 0 : following.oldStart - (match.oldStart + match.length)
    entry(match.length, copy, seek)
  })
  const compressedControl = Bzip2Encoder.compress(control.concat())
  const compressedDiff = Bzip2Encoder.compress(diffBytes.concat())
  const compressedExtra = Bzip2Encoder.compress(extra.concat())
  const header = new Uint8Array(32)
  header.set(new TextEncoder().encode("BSDIFF40"))
  offtout(compressedControl.length, header, 8)
  offtout(compressedDiff.length, header, 16)
  offtout(next.length, header, 24)
  const patch = new Uint8Array(32 + compressedControl.length + compressedDiff.length + compressedExtra.length)
  patch.set(header)
  patch.set(compressedControl, 32)
  patch.set(compressedDiff, 32 + compressedControl.length)
  patch.set(compressedExtra, 32 + compressedControl.length + compressedDiff.length)
  return patch
}
