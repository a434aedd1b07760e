/**
 * The event trace of a simulation: every operation of the simulated hardware appends one line.
 * Two runs of the same seed must produce the same trace; its SHA-256 is the determinism check.
 * Bounded: past `limit` lines only the count and the hash grow.
 */
import { createHash } from "node:crypto"

export class Trace {
  private readonly lines: Array<string> = []
  private readonly hash = createHash("sha256")
  private count = 0

  private readonly limit: number

  constructor(limit = 20_000) {
    this.limit = limit
  }

  record(line: string): void {
    this.count++
    this.hash.update(line + "\n")
    if (this.lines.length < this.limit) this.lines.push(line)
  }

  get size(): number {
    return this.count
  }

  /** The last `n` recorded lines (for failure reports). */
  tail(n: number): ReadonlyArray<string> {
    return this.lines.slice(-n)
  }

  digest(): string {
    return this.hash.copy().digest("hex")
  }
}
