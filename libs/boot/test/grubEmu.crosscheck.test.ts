/**
 * Runs the generated `keel_choose` in the real GRUB script engine (grub-emu) over every case of the
 * decision table and checks that GRUB chooses the same slot and leaves byte-identical environment
 * blocks as the simulated firmware (BootDecision.boot). The initial blocks are written by
 * grub-editenv, so neither side's codec decides the input.
 */
import * as fs from "node:fs"
import * as path from "node:path"
import { beforeAll, describe, expect, it } from "vitest"
import { Result } from "effect"
import * as BootDecision from "../src/BootDecision.ts"
import * as EnvBlock from "../src/EnvBlock.ts"
import * as GrubConfig from "../src/GrubConfig.ts"
import { editenv, grubEmu, requireTool, run, tempDir } from "./grubTools.ts"

const absent = undefined
const actives = [absent, "A", "B", "C"]
const nexts = [absent, "", "A", "B", "x"]
const triesValues = [absent, "", "0", "1", "2", "3", "4", "-1", "3x"]
const booteds = [absent, "A"]

interface Case {
  readonly id: string
  readonly vars: ReadonlyArray<readonly [string, string]>
}

const cases: Array<Case> = []
for (const active of actives) for (const next of nexts) for (const tries of triesValues) for (const booted of booteds) {
  const candidates: ReadonlyArray<readonly [string, string | undefined]> = [
    ["KEEL_ACTIVE", active], ["KEEL_NEXT", next], ["KEEL_TRIES", tries], ["KEEL_BOOTED", booted]
  ]
  const vars = candidates.filter((entry): entry is readonly [string, string] => entry[1] !== undefined)
  // Vary the order the variables were written in: GRUB rewrites them where they stand.
  const rotated = vars.map((_, i) => vars[(i + cases.length) % vars.length]!)
  cases.push({ id: `c${String(cases.length).padStart(3, "0")}`, vars: rotated })
}

describe("generated grub.cfg in grub-emu", () => {
  beforeAll(() => {
    requireTool("grub-emu", "grub-emu")
    requireTool("grub-editenv", "grub-common")
    requireTool("mcopy", "mtools")
    requireTool("mkfs.vfat", "dosfstools")
    requireTool("script", "util-linux")
  })

  it("passes grub-script-check", () => {
    const dir = tempDir("keel-grubcfg-")
    const file = path.join(dir, "grub.cfg")
    fs.writeFileSync(file, GrubConfig.bootConfig())
    run("grub-script-check", [file])
  })

  it(`chooses the same slot and leaves the same block as the simulated firmware in all ${cases.length} cases`, async () => {
    const dir = tempDir("keel-grubemu-")
    const casesDir = path.join(dir, "cases")
    const resultsDir = path.join(dir, "results")
    fs.mkdirSync(casesDir)
    fs.mkdirSync(resultsDir)
    for (const c of cases) {
      const file = path.join(casesDir, c.id)
      editenv(file, "create")
      for (const [name, value] of c.vars) editenv(file, "set", `${name}=${value}`)
      editenv(path.join(resultsDir, c.id), "create")
    }
    const image = path.join(dir, "esp.img")
    run("mkfs.vfat", ["-C", image, "4096"])
    run("mcopy", ["-s", "-i", image, casesDir, "::/cases"])
    run("mcopy", ["-s", "-i", image, resultsDir, "::/results"])
    const cfg = [
      "set pager=0", "insmod fat", "insmod loadenv", "insmod test", "insmod echo", "insmod reboot",
      GrubConfig.chooser(),
      `for c in ${cases.map((c) => c.id).join(" ")}; do`,
      "  set keel_env=(hd0)/cases/$c",
      "  keel_choose",
      // GRUB's choice travels through its own variable, not through the block under test.
      "  set keel_result=\"$keel_boot\"",
      "  save_env --file (hd0)/results/$c keel_result",
      "done",
      "reboot"
    ].join("\n")
    run("mcopy", ["-i", image, "-", "::/keel.cfg"], cfg)
    const modules = path.join(dir, "modules")
    fs.cpSync("/usr/lib/grub/x86_64-emu", modules, { recursive: true })
    fs.writeFileSync(path.join(dir, "device.map"), `(hd0) ${image}\n`)
    const output = await grubEmu(modules, path.join(dir, "device.map"), "configfile (hd0)/keel.cfg\n")
    const after = path.join(dir, "after")
    const results = path.join(dir, "after-results")
    run("mcopy", ["-s", "-i", image, "::/cases", after])
    run("mcopy", ["-s", "-i", image, "::/results", results])
    const chosen = new Map<string, string | undefined>()
    for (const c of cases) {
      const decoded = EnvBlock.decode(fs.readFileSync(path.join(results, c.id)))
      chosen.set(c.id, Result.isSuccess(decoded) ? EnvBlock.get(decoded.success, "keel_result") : undefined)
    }
    const missing = cases.filter((c) => chosen.get(c.id) === undefined).map((c) => c.id)
    expect(missing, `grub-emu output:\n${output.slice(-2000)}`).toEqual([])
    const rulesSeen = new Set<BootDecision.Rule>()
    for (const c of cases) {
      const before = fs.readFileSync(path.join(casesDir, c.id))
      const simulated = BootDecision.boot(before)
      if (Result.isFailure(simulated)) throw simulated.failure
      rulesSeen.add(simulated.success.decision.rule)
      expect(chosen.get(c.id), `${c.id} ${JSON.stringify(c.vars)}`).toBe(simulated.success.decision.boot)
      const grubBlock = fs.readFileSync(path.join(after, c.id))
      expect(Buffer.from(simulated.success.block).equals(grubBlock), `${c.id} ${JSON.stringify(c.vars)} block`).toBe(true)
    }
    expect(rulesSeen.size).toBe(BootDecision.rules.length)
    fs.rmSync(dir, { recursive: true, force: true })
  })
})
