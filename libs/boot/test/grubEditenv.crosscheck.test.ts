/**
 * Cross-check of the codec against the real `grub-editenv` on 1,000 random sequences of set and
 * unset, comparing bytes after every step.
 */
import * as fs from "node:fs"
import * as path from "node:path"
import { beforeAll, describe, expect, it } from "vitest"
import { Result } from "effect"
import * as EnvBlock from "../src/EnvBlock.ts"
import { editenv, requireTool, tempDir } from "./grubTools.ts"
import { prng } from "./prng.ts"

const names = ["a", "ab", "b", "KEEL_ACTIVE", "KEEL_NEXT", "KEEL_TRIES", "x_1", "Z"]
const alphabet = ["a", "b", "z", "0", "9", " ", "=", "#", "\\", "\n", "é", "€", "-", "_", "'", "\""]

describe("EnvBlock against grub-editenv", () => {
  beforeAll(() => requireTool("grub-editenv", "grub-common"))

  // About 5,500 runs of grub-editenv: 90 s on an idle 2-core machine, more while other suites run.
  it("produces byte-identical blocks for 1,000 random operation sequences", () => {
    const dir = tempDir("keel-envblk-")
    const file = path.join(dir, "grubenv")
    const baseSeed = Number(process.env["KEEL_ENVBLK_SEED"] ?? 20261122)
    let steps = 0
    let refusals = 0
    for (let sequence = 0; sequence < 1000; sequence++) {
      const seed = baseSeed + sequence
      const rand = prng(seed)
      const value = () => {
        const length = rand.next() < 0.05 ? 200 + rand.int(500) : rand.int(24)
        return Array.from({ length }, () => rand.pick(alphabet)).join("")
      }
      fs.rmSync(file, { force: true })
      editenv(file, "create")
      let ours = EnvBlock.create()
      expect(Buffer.from(ours).equals(fs.readFileSync(file)), `create, seed ${seed}`).toBe(true)
      const ops = 1 + rand.int(8)
      for (let op = 0; op < ops; op++) {
        const unsetting = rand.next() < 0.3
        const count = 1 + rand.int(3)
        const chosen = Array.from({ length: count }, () => rand.pick(names))
        let next: Result.Result<Uint8Array, EnvBlock.EnvBlockError>
        let accepted: boolean
        if (unsetting) {
          accepted = editenv(file, "unset", ...chosen)
          next = EnvBlock.update(ours, chosen.map((n) => [n, undefined] as const))
        } else {
          const pairs = chosen.map((n) => [n, value()] as const)
          accepted = editenv(file, "set", ...pairs.map(([n, v]) => `${n}=${v}`))
          next = EnvBlock.update(ours, pairs)
        }
        steps++
        if (!accepted) {
          refusals++
          expect(Result.isFailure(next) && next.failure.reason, `seed ${seed} step ${op}`).toBe("NoSpace")
        } else {
          expect(Result.isSuccess(next), `seed ${seed} step ${op}`).toBe(true)
          if (Result.isSuccess(next)) ours = next.success
        }
        const theirs = fs.readFileSync(file)
        expect(Buffer.from(ours).equals(theirs), `bytes differ: seed ${seed} step ${op}`).toBe(true)
        expect(Result.isSuccess(EnvBlock.decode(theirs))).toBe(true)
      }
    }
    // The run must have exercised the refusal path, or the check proves less than it says.
    expect(refusals).toBeGreaterThan(0)
    expect(steps).toBeGreaterThan(3000)
    fs.rmSync(dir, { recursive: true, force: true })
  }, 600_000)
})
