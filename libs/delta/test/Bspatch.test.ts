/**
 * BSDIFF40 patches made by Debian's bsdiff 4.3 apply with our streaming applier to exactly the
 * bytes Debian's bspatch produces; corrupt and truncated patches fail with a BspatchError and
 * never make the applier hand out more than the header's new size.
 */
import { execFileSync } from "node:child_process"
import { createHash } from "node:crypto"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { Effect, Exit } from "effect"
import { afterAll, describe, expect, it } from "vitest"
import { Bsdiff, Bspatch } from "../src/index.ts"
import { evolve, prng, random } from "./random.ts"

const dir = fs.mkdtempSync(path.join(os.tmpdir(), "keel-bspatch-"))
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }))

const sha = (bytes: Uint8Array) => createHash("sha256").update(bytes).digest("hex")

const source = (bytes: Uint8Array): Bspatch.Source<never> => ({
  size: bytes.length,
  read: (offset, length) => Effect.succeed(bytes.slice(offset, offset + length))
})

const applyOurs = (patch: Uint8Array, old: Uint8Array, chunkBytes = 64 * 1024) =>
  Effect.gen(function*() {
    const chunks: Array<Uint8Array> = []
    const size = yield* Bspatch.apply(source(patch), source(old), (chunk) => Effect.sync(() => void chunks.push(chunk)), { chunkBytes })
    return { size, bytes: new Uint8Array(Buffer.concat(chunks)), largest: Math.max(0, ...chunks.map((c) => c.length)) }
  })

const debian = (name: string, old: Uint8Array, next: Uint8Array) => {
  const files = { old: path.join(dir, `${name}.old`), new: path.join(dir, `${name}.new`), patch: path.join(dir, `${name}.patch`), out: path.join(dir, `${name}.out`) }
  fs.writeFileSync(files.old, old)
  fs.writeFileSync(files.new, next)
  execFileSync("bsdiff", [files.old, files.new, files.patch])
  execFileSync("bspatch", [files.old, files.out, files.patch])
  return { patch: new Uint8Array(fs.readFileSync(files.patch)), bspatched: new Uint8Array(fs.readFileSync(files.out)) }
}

describe("Bspatch against Debian's bsdiff and bspatch", () => {
  const pairs: ReadonlyArray<readonly [string, Uint8Array, Uint8Array]> = (() => {
    const old = random(700_000, 1)
    return [
      ["an evolved release", old, evolve(old, 2)],
      ["a grown release", old, new Uint8Array(Buffer.concat([evolve(old, 3), random(200_000, 4)]))],
      ["a shrunk release", old, evolve(old, 5).subarray(0, 300_000)],
      ["an unrelated image", random(100_000, 6), random(150_000, 7)],
      ["from a one-byte old image", Uint8Array.of(1), random(50_000, 8)]
    ]
  })()
  for (const [name, old, next] of pairs) {
    it(`applies ${name} to the same bytes as bspatch, in bounded chunks`, () => {
      const { patch, bspatched } = debian(name.replaceAll(" ", "-"), old, next)
      const ours = Effect.runSync(applyOurs(patch, old))
      expect(sha(bspatched)).toBe(sha(next))
      expect(ours.size).toBe(next.length)
      expect(sha(ours.bytes)).toBe(sha(bspatched))
      expect(ours.largest).toBeLessThanOrEqual(64 * 1024)
    })
  }

  it("refuses what is not a patch, a header that does not fit, and a truncated patch", () => {
    const old = random(100_000, 9)
    const { patch } = debian("truncated", old, evolve(old, 10))
    const refuse = (bytes: Uint8Array) => {
      const exit = Effect.runSyncExit(applyOurs(bytes, old))
      return Exit.isFailure(exit) ? String(exit.cause) : "applied"
    }
    expect(refuse(new TextEncoder().encode("not a patch at all, but long enough for a header"))).toMatch(/Malformed: not a BSDIFF40 patch/)
    const lying = patch.slice()
    lying[8] = 0xff
    lying[9] = 0xff
    expect(refuse(lying)).toMatch(/Malformed: the header's lengths/)
    expect(refuse(patch.subarray(0, patch.length - 40))).toMatch(/BspatchError/)
  })

  it("fuzz: a patch with flipped bytes ends in a BspatchError or in the right image, never in more than the new size", () => {
    const old = random(200_000, 11)
    const next = evolve(old, 12)
    const { patch } = debian("fuzz", old, next)
    const rand = prng(13)
    let refused = 0
    for (let round = 0; round < 150; round++) {
      const damaged = patch.slice()
      for (let flips = 0; flips < 3; flips++) {
        const at = 32 + Math.floor(rand() * (damaged.length - 32))
        damaged[at] = damaged[at]! ^ (1 + Math.floor(rand() * 255))
      }
      const chunks: Array<Uint8Array> = []
      const exit = Effect.runSyncExit(Bspatch.apply(source(damaged), source(old), (chunk) => Effect.sync(() => void chunks.push(chunk))))
      const handed = new Uint8Array(Buffer.concat(chunks))
      expect(handed.length).toBeLessThanOrEqual(next.length)
      if (Exit.isFailure(exit)) {
        expect(String(exit.cause)).toMatch(/BspatchError/)
        refused++
      } else {
        // Flips in padding bits change nothing; anything else must have been caught.
        expect(sha(handed)).toBe(sha(next))
      }
    }
    expect(refused).toBeGreaterThan(100)
  })
})

describe("Bsdiff (our BSDIFF40 writer)", () => {
  it("writes patches Debian's bspatch and ours apply to the new image, small for small changes", () => {
    const old = random(120_000, 51)
    for (const [name, next] of [["evolved", evolve(old, 52)], ["grown", new Uint8Array(Buffer.concat([old, random(3_000, 53)]))], ["unrelated", random(30_000, 54)], ["from nothing", random(1_000, 55)]] as const) {
      const base = name === "from nothing" ? new Uint8Array(0) : old
      const patch = Bsdiff.diff(base, next)
      const files = { old: path.join(dir, `ours-${name}.old`), patch: path.join(dir, `ours-${name}.patch`), out: path.join(dir, `ours-${name}.out`) }
      fs.writeFileSync(files.old, base)
      fs.writeFileSync(files.patch, patch)
      execFileSync("bspatch", [files.old, files.out, files.patch])
      expect(sha(new Uint8Array(fs.readFileSync(files.out))), `${name}: Debian's bspatch`).toBe(sha(next))
      expect(sha(Effect.runSync(applyOurs(patch, base)).bytes), `${name}: ours`).toBe(sha(next))
      if (name === "grown") expect(patch.length).toBeLessThan(6_000)
    }
  })
})
