/**
 * Finds where a new version of a file copies an old one, for patches of whole executables in
 * linear time: the old bytes are indexed by a hash of 16-byte windows at every 4th
 * position, and the new bytes are scanned once, following the current alignment (old = new +
 * delta) across scattered changed bytes (relocated addresses and the like become small diff bytes,
 * as in bsdiff) and switching to a new alignment only when it matches clearly better over the next
 * 64 bytes. Memory is the index (4 bytes per 2 old positions) and the runs; bsdiff's suffix sort
 * is what makes it need minutes and gigabytes on a 100 MB image.
 */

export interface Run {
  readonly oldStart: number
  readonly newStart: number
  readonly length: number
}

const window = 16
const stride = 4
const lookahead = 64
/** How much better (in matching bytes over the lookahead) a new alignment must be to switch. */
const switchMargin = 8
/** How far the current alignment's score may fall below its best before the run ends. */
const giveUp = 48
/** A window's hash from its four 32-bit words, so any position is hashed without the ones before. */
const hashAt = (view: DataView, at: number): number => {
  const h = Math.imul(view.getInt32(at, true), 0x9e3779b1) ^ Math.imul(view.getInt32(at + 4, true), 0x85ebca6b) ^
    Math.imul(view.getInt32(at + 8, true), 0xc2b2ae35) ^ Math.imul(view.getInt32(at + 12, true), 0x27d4eb2f)
  return h ^ (h >>> 15)
}

const viewOf = (bytes: Uint8Array) => new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength)

class Index {
  readonly table: Int32Array
  readonly shift: number

  constructor(old: Uint8Array) {
    const wanted = Math.max(1 << 10, Math.min(1 << 27, 2 ** Math.ceil(Math.log2(Math.max(1, old.length / stride) * 2))))
    this.table = new Int32Array(wanted).fill(-1)
    this.shift = 32 - Math.log2(wanted)
    const view = viewOf(old)
    for (let at = 0; at + window <= old.length; at += stride) {
      const slot = this.slot(hashAt(view, at))
      if (this.table[slot] === -1) this.table[slot] = at
    }
  }

  slot(h: number): number {
    return Math.imul(h, 0x9e3779b1) >>> this.shift
  }
}

const sameWindow = (old: Uint8Array, next: Uint8Array, oldAt: number, newAt: number): boolean => {
  if (oldAt + window > old.length) return false
  for (let k = 0; k < window; k++) if (old[oldAt + k] !== next[newAt + k]) return false
  return true
}

const matchesOver = (old: Uint8Array, next: Uint8Array, oldAt: number, newAt: number, length: number): number => {
  let count = 0
  const end = Math.min(length, next.length - newAt, old.length - oldAt)
  for (let k = 0; k < end; k++) if (old[oldAt + k] === next[newAt + k]) count++
  return count
}

/** The runs of `next` that follow `old` (sorted, not overlapping); what is between them is new. */
export const runs = (old: Uint8Array, next: Uint8Array): Array<Run> => {
  const out: Array<Run> = []
  if (old.length < window || next.length < window) return out
  const index = new Index(old)
  let delta = 0
  let aligned = false
  let start = 0
  let bestEnd = 0
  let score = 0
  let best = 0
  let gapStart = 0
  let rewound = -1
  const close = () => {
    if (aligned && bestEnd > start) out.push({ oldStart: start + delta, newStart: start, length: bestEnd - start })
    if (aligned) gapStart = Math.max(gapStart, bestEnd)
    aligned = false
  }
  // Windows are hashed only where they are looked up, so runs of matching bytes (nearly all of a
  // new version of a file) are walked by plain comparison.
  const view = viewOf(next)
  let i = 0
  while (i < next.length) {
    if (aligned) {
      let j = i
      const end = Math.min(next.length, old.length - delta)
      while (j < end && old[j + delta] === next[j]) j++
      if (j > i && i + delta >= 0) {
        score += j - i
        if (score > best) {
          best = score
          bestEnd = j
        }
        i = j
        continue
      }
      score--
    }
    if (i + window <= next.length) {
      const candidate = index.table[index.slot(hashAt(view, i))]!
      if (candidate >= 0 && (!aligned || candidate - i !== delta) && sameWindow(old, next, candidate, i)) {
        const fresh = matchesOver(old, next, candidate, i, lookahead)
        const current = aligned ? matchesOver(old, next, i + delta, i, lookahead) : 0
        if (fresh >= window + 8 && fresh > current + switchMargin) {
          close()
          delta = candidate - i
          aligned = true
          let s = i
          while (s > gapStart && s - 1 + delta >= 0 && old[s - 1 + delta] === next[s - 1]) s--
          start = s
          bestEnd = i
          score = 0
          best = 0
          continue
        }
      }
    }
    if (aligned && score < best - giveUp) {
      close()
      // Look again for alignments from where this one stopped being good.
      if (bestEnd < i && bestEnd > rewound) {
        rewound = bestEnd
        i = bestEnd
        continue
      }
    }
    i++
  }
  close()
  return out
}
