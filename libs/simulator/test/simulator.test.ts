import { describe, expect, it } from "vitest"
import { Effect, FileSystem } from "effect"
import { Power } from "@keelos/platform"
import type { PlatformMutation } from "@keelos/platform-sim"
import { type Scenario, Simulator, scenarios } from "../src/index.ts"

const scenario = scenarios[0]!
const run = (seed: number, mutatePlatform?: PlatformMutation) =>
  Effect.runPromise(Simulator.run({ seed, scenario, ...(mutatePlatform === undefined ? {} : { mutatePlatform }) }))

const runSeeds = async (count: number, mutatePlatform?: PlatformMutation) => {
  const verdicts = []
  for (let seed = 1; seed <= count; seed++) verdicts.push(await run(seed, mutatePlatform))
  return verdicts
}

/** The planted bug: the write path opens, writes and renames, but its fsync does nothing. */
const noFileFsync: PlatformMutation = {
  fileSystem: (fs) =>
    FileSystem.make({
      ...fs,
      open: (path, options) =>
        Effect.map(fs.open(path, options), (file) => (options?.flag === "w" ? { ...file, sync: Effect.void } : file))
    })
}

/** The planted bug: the slot writer's sync does nothing. */
const noSlotSync: PlatformMutation = {
  blockDevices: (devices) => ({
    open: (label) => Effect.map(devices.open(label), (device) => ({ ...device, sync: Effect.void }))
  })
}

describe("simulator", () => {
  it("replays a seed exactly: same verdict, same trace digest", async () => {
    const first = await run(42)
    const second = await run(42)
    expect(second).toEqual(first)
    expect(first.traceDigest).toMatch(/^[0-9a-f]{64}$/)
    expect(first.powerCuts).toBeGreaterThan(0)
    const other = await run(43)
    expect(other.traceDigest).not.toBe(first.traceDigest)
  })

  it("finds no violation in the production code over 150 seeds, with power cuts", async () => {
    const verdicts = await runSeeds(150)
    const failed = verdicts.filter((v) => !v.ok)
    expect(failed.map((v) => `${v.seed}: ${JSON.stringify(v.violations)}`)).toEqual([])
    expect(verdicts.reduce((n, v) => n + v.powerCuts, 0)).toBeGreaterThan(500)
  })

  it("catches a write path that does not fsync before rename, and the failing seed replays", async () => {
    const verdicts = await runSeeds(150, noFileFsync)
    const failed = verdicts.filter((v) => !v.ok)
    expect(failed.length).toBeGreaterThan(0)
    const invariants = new Set(failed.flatMap((v) => v.violations.map((x) => x.invariant)))
    expect(
      [...invariants].some((i) => ["the last acknowledged state survives", "persisted state is never corrupt", "the history journal is never corrupt", "acknowledged history entries survive"].includes(i))
    ).toBe(true)
    const replay = await run(failed[0]!.seed, noFileFsync)
    expect(replay).toEqual(failed[0])
    expect(Simulator.replayCommand(failed[0]!)).toBe(`npm run sim -- --scenario slot-updates --seed ${failed[0]!.seed}`)
  })

  it("catches a slot writer that does not sync before activation", async () => {
    const verdicts = await runSeeds(150, noSlotSync)
    const invariants = new Set(verdicts.filter((v) => !v.ok).flatMap((v) => v.violations.map((x) => x.invariant)))
    expect([...invariants].some((i) => i.includes("verified image"))).toBe(true)
  })
})

describe("scenario updates: the production update engine", () => {
  const byName = (name: string) => scenarios.find((s) => s.name === name)!
  const runAll = async (name: string, count: number, mutatePlatform?: PlatformMutation) => {
    const verdicts = []
    for (let seed = 1; seed <= count; seed++) {
      verdicts.push(await Effect.runPromise(Simulator.run({ seed, scenario: byName(name), ...(mutatePlatform === undefined ? {} : { mutatePlatform }) })))
    }
    return verdicts
  }

  it("holds every invariant over 80 seeds with every fault", async () => {
    const verdicts = await runAll("updates", 80)
    expect(verdicts.filter((v) => !v.ok).map((v) => `${v.seed}: ${JSON.stringify(v.violations)}`)).toEqual([])
    expect(verdicts.reduce((n, v) => n + v.powerCuts, 0)).toBeGreaterThan(200)
  })

  it("without faults concludes every release: success for good ones, rollback for the others", async () => {
    const verdicts = await runAll("updates-clean", 40)
    expect(verdicts.filter((v) => !v.ok).map((v) => `${v.seed}: ${JSON.stringify(v.violations)}`)).toEqual([])
    expect(verdicts.every((v) => v.traceTail.some((line) => line.includes("latest.json: 404")))).toBe(true)
  })

  it("catches a slot writer that does not sync: the firmware would boot a partial image", async () => {
    const verdicts = await runAll("updates", 80, noSlotSync)
    const invariants = new Set(verdicts.filter((v) => !v.ok).flatMap((v) => v.violations.map((x) => x.invariant)))
    expect(invariants.has("the firmware boots a complete image")).toBe(true)
  })

  it("catches state files written without fsync", async () => {
    const verdicts = await runAll("updates", 40, noFileFsync)
    const invariants = new Set(verdicts.filter((v) => !v.ok).flatMap((v) => v.violations.map((x) => x.invariant)))
    expect(invariants.has("state.json always decodes")).toBe(true)
  })
})

describe("virtual clock", () => {
  const sleeper = (sleepMillis: number): Scenario => ({
    name: "sleeper",
    description: "sleeps, then reboots",
    operationsPerBoot: 1,
    slotBytes: 4096,
    make: () => ({
      install: () => {},
      afterPowerOn: () => [],
      afterPowerOff: () => [],
      boot: () => Effect.andThen(Effect.sleep(sleepMillis), Effect.flatMap(Power.Power, (p) => p.switchOff("reboot")))
    })
  })

  it("runs timers of the node software on virtual time", async () => {
    const started = performance.now()
    const verdict = await Effect.runPromise(Simulator.run({ seed: 1, scenario: sleeper(10 * 60_000), boots: 3, powerCutRate: 0, bootTimeoutMillis: 20 * 60_000 }))
    expect(verdict.ok).toBe(true)
    expect(verdict.boots).toBe(3)
    expect(performance.now() - started).toBeLessThan(5_000)
  })

  it("reports a boot that never ends", async () => {
    const verdict = await Effect.runPromise(Simulator.run({ seed: 1, scenario: sleeper(10 * 60_000), boots: 3, powerCutRate: 0, bootTimeoutMillis: 5 * 60_000 }))
    expect(verdict.violations.map((v) => v.invariant)).toEqual(["a boot ends (halts or loses power) in bounded time"])
  })
})
