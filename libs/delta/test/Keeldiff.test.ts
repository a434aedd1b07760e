/**
 * Content-delta file patches: the matcher's runs and the segment codec turn an old file into the
 * new one exactly, across segment boundaries and with insertions, deletions and scattered byte
 * changes; the patch of a small change is small; corrupt patches end in a KeeldiffError (never a
 * defect), never read outside the old file and never make more than the new size.
 */
import { Cause, Effect, Exit } from "effect"
import { describe, expect, it } from "vitest"
import * as Keeldiff from "../src/Keeldiff.ts"
import * as Matcher from "../src/Matcher.ts"
import { evolve, prng, random } from "./random.ts"

const source = (bytes: Uint8Array, reads?: Array<[number, number]>): Keeldiff.Source<never> => ({
  size: bytes.length,
  read: (offset, length) =>
    Effect.sync(() => {
      reads?.push([offset, length])
      return bytes.subarray(offset, offset + length)
    })
})

const applyAll = (patch: Uint8Array, old: Uint8Array, size: number, reads?: Array<[number, number]>) =>
  Effect.gen(function*() {
    const chunks: Array<Uint8Array> = []
    yield* Keeldiff.apply(source(patch), source(old, reads), size, (bytes) => Effect.sync(() => void chunks.push(bytes)))
    return new Uint8Array(Buffer.concat(chunks))
  })

describe("Keeldiff", () => {
  const old = random(9 << 20, 5)
  const next = evolve(old, 11, 200_000)

  it("rebuilds the new file exactly, across 4 MiB segments, from a patch far smaller than it", () => {
    const runs = Matcher.runs(old, next)
    const patch = Keeldiff.encode(old, next, runs, { level: 3 })
    const back = Effect.runSync(applyAll(patch, old, next.length))
    expect(back.length).toBe(next.length)
    expect(Buffer.compare(back, next)).toBe(0)
    // The insertions are random bytes (about 2.5% of the file); the rest is the old file nudged.
    expect(patch.length).toBeLessThan(next.length * 0.08)
    let previous = -1
    for (const run of runs) {
      expect(run.newStart).toBeGreaterThanOrEqual(previous)
      previous = run.newStart + run.length
    }
  })

  it("reads a patch handed out as Node Buffers that view a larger pool, as file reads give them", () => {
    const runs = Matcher.runs(old, next)
    const patch = Keeldiff.encode(old, next, runs, { level: 3 })
    const pool = new Uint8Array(patch.length + 4096).fill(0xff)
    pool.set(patch, 4096)
    const pooled: Keeldiff.Source<never> = {
      size: patch.length,
      read: (offset, length) => Effect.sync(() => Buffer.from(pool.buffer, 4096 + offset, Math.min(length, patch.length - offset)))
    }
    const chunks: Array<Uint8Array> = []
    Effect.runSync(Keeldiff.apply(pooled, source(old), next.length, (bytes) => Effect.sync(() => void chunks.push(bytes))))
    expect(Buffer.compare(Buffer.concat(chunks), next)).toBe(0)
  })

  it("handles files with nothing in common, empty files and files smaller than a window", () => {
    for (const [a, b] of [[random(1000, 1), random(3000, 2)], [new Uint8Array(0), random(10, 3)], [random(10, 4), new Uint8Array(0)], [random(5, 5), random(7, 6)]] as const) {
      const patch = Keeldiff.encode(a, b, Matcher.runs(a, b), { level: 3 })
      expect(Buffer.compare(Effect.runSync(applyAll(patch, a, b.length)), b)).toBe(0)
    }
  })

  it("fails corrupt patches with a KeeldiffError, never reading outside the old file", () => {
    const small = random(300_000, 8)
    const changed = evolve(small, 9, 200_000)
    const patch = Keeldiff.encode(small, changed, Matcher.runs(small, changed), { level: 3 })
    const next = prng(3)
    let failed = 0
    for (let round = 0; round < 300; round++) {
      const bad = patch.slice(0, next() < 0.2 ? Math.floor(next() * patch.length) : patch.length)
      for (let i = 0; i < 1 + next() * 3; i++) bad[Math.floor(next() * bad.length)] = Math.floor(next() * 256)
      const reads: Array<[number, number]> = []
      let emitted = 0
      const exit = Effect.runSyncExit(
        Keeldiff.apply(source(bad), source(small, reads), changed.length, (bytes) => Effect.sync(() => void (emitted += bytes.length)))
      )
      expect(emitted).toBeLessThanOrEqual(changed.length)
      for (const [offset, length] of reads) expect(offset + length).toBeLessThanOrEqual(small.length)
      if (Exit.isFailure(exit)) {
        expect(Cause.hasDies(exit.cause), Cause.pretty(exit.cause)).toBe(false)
        expect((Cause.squash(exit.cause) as { readonly _tag: string })._tag).toBe("KeeldiffError")
        failed++
      }
    }
    expect(failed).toBeGreaterThan(200)
  })
})
