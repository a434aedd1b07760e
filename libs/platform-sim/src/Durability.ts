/**
 * What happens to writes that were not synced when the power goes off. Each pending write lands
 * whole, lands torn at sector granularity (some of its 512-byte sectors, not others), or does not
 * land at all; the outcome of each is drawn from the simulator's Prng.
 */
import type { Prng } from "./Prng.ts"

export const sectorSize = 512

export interface PendingWrite {
  readonly offset: number
  readonly bytes: Uint8Array
}

export type Outcome = "whole" | "torn" | "lost"

export interface FaultRates {
  /** Probability that a pending write is torn. */
  readonly torn: number
  /** Probability that a pending write is lost entirely. */
  readonly lost: number
}

export const defaultFaultRates: FaultRates = { torn: 0.3, lost: 0.3 }

export const drawOutcome = (prng: Prng, rates: FaultRates): Outcome => {
  const x = prng.next()
  return x < rates.torn ? "torn" : x < rates.torn + rates.lost ? "lost" : "whole"
}

/**
 * Applies one pending write to `target` with the given outcome; a torn write lands a random subset
 * of the sectors it covers. Returns the target, grown if the write extends it.
 */
export const land = (target: Uint8Array, write: PendingWrite, outcome: Outcome, prng: Prng): Uint8Array => {
  if (outcome === "lost") return target
  const end = write.offset + write.bytes.length
  let out = target
  if (end > out.length) {
    out = new Uint8Array(end)
    out.set(target)
  }
  if (outcome === "whole") {
    out.set(write.bytes, write.offset)
    return out
  }
  const firstSector = Math.floor(write.offset / sectorSize)
  const lastSector = Math.floor((end - 1) / sectorSize)
  for (let sector = firstSector; sector <= lastSector; sector++) {
    if (!prng.chance(0.5)) continue
    const from = Math.max(write.offset, sector * sectorSize)
    const to = Math.min(end, (sector + 1) * sectorSize)
    out.set(write.bytes.subarray(from - write.offset, to - write.offset), from)
  }
  return out
}
