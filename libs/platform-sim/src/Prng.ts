/**
 * The simulator's one source of randomness: a small, fast, seeded generator (SplitMix32 seeding
 * xoshiro128**). Every fault decision and every workload choice draws from a Prng derived from the
 * run's seed, so a seed replays a run exactly.
 */

const splitmix32 = (state: number) => {
  let z = (state + 0x9e3779b9) >>> 0
  z = Math.imul(z ^ (z >>> 16), 0x85ebca6b) >>> 0
  z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35) >>> 0
  return (z ^ (z >>> 16)) >>> 0
}

const rotl = (x: number, k: number) => ((x << k) | (x >>> (32 - k))) >>> 0

export class Prng {
  private s0: number
  private s1: number
  private s2: number
  private s3: number

  constructor(seed: number) {
    let x = seed >>> 0
    x = splitmix32(x)
    this.s0 = x
    x = splitmix32(x)
    this.s1 = x
    x = splitmix32(x)
    this.s2 = x
    x = splitmix32(x)
    this.s3 = x || 1
  }

  /** A uniformly distributed unsigned 32-bit integer. */
  nextU32(): number {
    const result = Math.imul(rotl(Math.imul(this.s1, 5) >>> 0, 7), 9) >>> 0
    const t = (this.s1 << 9) >>> 0
    this.s2 ^= this.s0
    this.s3 ^= this.s1
    this.s1 ^= this.s2
    this.s0 ^= this.s3
    this.s2 ^= t
    this.s3 = rotl(this.s3, 11)
    return result
  }

  /** A float in [0, 1). */
  next(): number {
    return this.nextU32() / 4294967296
  }

  /** An integer in [0, n). */
  int(n: number): number {
    return Math.floor(this.next() * n)
  }

  /** True with probability p. */
  chance(p: number): boolean {
    return this.next() < p
  }

  pick<A>(items: ReadonlyArray<A>): A {
    if (items.length === 0) throw new Error("Prng.pick of an empty list")
    return items[this.int(items.length)]!
  }

  /** Random bytes (for simulated image contents). */
  bytes(length: number): Uint8Array {
    const out = new Uint8Array(length)
    for (let i = 0; i < length; i += 4) {
      const word = this.nextU32()
      for (let j = 0; j < 4 && i + j < length; j++) out[i + j] = (word >>> (8 * j)) & 0xff
    }
    return out
  }

  /** An independent generator derived from this one (for a sub-system or a boot). */
  fork(): Prng {
    return new Prng(this.nextU32())
  }
}
