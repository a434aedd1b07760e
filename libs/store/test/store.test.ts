import { describe, expect, it } from "vitest"
import { Cause, Effect, Exit, FileSystem, Schema } from "effect"
import { PowerLost, SimHardware } from "@keelos/platform-sim"
import { JsonFile, Journal, RotatingFile } from "../src/index.ts"

const Counter = Schema.Struct({ n: Schema.Int, note: Schema.String })
type Counter = typeof Counter.Type
const file = "/var/lib/keel/update/state.json"

const withHardware = <A, E>(hw: SimHardware, effect: Effect.Effect<A, E, any>) =>
  Effect.runSyncExit(Effect.scoped(effect).pipe(Effect.provide(hw.layer())) as Effect.Effect<A, E>)

const openCounter = JsonFile.make(Counter, file, { n: 0, note: "initial" })

describe("JsonFile", () => {
  it("returns the initial value, then what was written", () => {
    const hw = new SimHardware({ seed: 1 })
    const exit = withHardware(hw, Effect.gen(function*() {
      const store = yield* openCounter
      const before = yield* store.get
      yield* store.set({ n: 1, note: "one" })
      const after = yield* store.update((c) => ({ ...c, n: c.n + 1 }))
      return [before, after, yield* store.get]
    }))
    expect(exit).toEqual(Exit.succeed([{ n: 0, note: "initial" }, { n: 2, note: "one" }, { n: 2, note: "one" }]))
  })

  it.each([
    ["truncated JSON", "{\"n\": 5, \"no"],
    ["the wrong shape", "{\"n\": \"five\"}"],
    ["zeroes", "\u0000\u0000\u0000"]
  ])("reports %s as a corrupt file instead of resetting it", (_, content) => {
    const hw = new SimHardware({ seed: 2 })
    const exit = withHardware(hw, Effect.gen(function*() {
      const fs = yield* FileSystem.FileSystem
      yield* fs.makeDirectory("/var/lib/keel/update", { recursive: true })
      yield* fs.writeFileString(file, content)
      const store = yield* openCounter
      return yield* Effect.flip(store.get)
    }))
    expect(Exit.isSuccess(exit) && exit.value).toMatchObject({ _tag: "StoreError", operation: "decode", reason: "Corrupt" })
  })

  it("after a power cut anywhere in a write, holds the last acknowledged value or the new one (500 seeds)", () => {
    const outcomes = new Map<string, number>()
    for (let seed = 1; seed <= 500; seed++) {
      const hw = new SimHardware({ seed })
      expect(Exit.isSuccess(withHardware(hw, Effect.flatMap(openCounter, (s) => s.set({ n: 1, note: "acked" }))))).toBe(true)
      hw.power.planCut(1 + hw.prng.int(8))
      const exit = withHardware(hw, Effect.flatMap(openCounter, (s) => s.set({ n: 2, note: "in flight" })))
      if (Exit.isFailure(exit)) expect(Cause.squash(exit.cause)).toBeInstanceOf(PowerLost)
      hw.crash()
      hw.powerOn()
      const read = withHardware(hw, Effect.flatMap(openCounter, (s) => s.get))
      expect(Exit.isSuccess(read), `seed ${seed}: ${String(read)}`).toBe(true)
      const value = Exit.isSuccess(read) ? (read.value as Counter).n : -1
      expect([1, 2], `seed ${seed}`).toContain(value)
      outcomes.set(String(value), (outcomes.get(String(value)) ?? 0) + 1)
    }
    // Both outcomes must occur, or the cut points missed the interesting window.
    expect(outcomes.size).toBe(2)
  })
})

describe("Journal", () => {
  it("keeps the newest entries up to its bound, oldest first", () => {
    const hw = new SimHardware({ seed: 3 })
    const exit = withHardware(hw, Effect.gen(function*() {
      const journal = yield* Journal.make(Schema.Int, "/var/lib/keel/update/history.json", 3)
      for (const n of [1, 2, 3, 4, 5]) yield* journal.append(n)
      return yield* journal.entries
    }))
    expect(exit).toEqual(Exit.succeed([3, 4, 5]))
  })
})

describe("RotatingFile", () => {
  it("rotates before passing maxBytes, keeps `keep` old files and drops the oldest", () => {
    const hw = new SimHardware({ seed: 3 })
    const exit = withHardware(hw, Effect.gen(function*() {
      const fs = yield* FileSystem.FileSystem
      yield* fs.makeDirectory("/var/lib/keel/audit", { recursive: true })
      const log = yield* RotatingFile.make("/var/lib/keel/audit/audit.log", { maxBytes: 20, keep: 2 })
      for (const line of ["aaaaaaaa\n", "bbbbbbbb\n", "cccccccc\n", "dddddddd\n", "eeeeeeee\n", "ffffffff\n", "gggggggg\n"]) yield* log.append(line)
      const read = (name: string) => fs.readFileString(`/var/lib/keel/audit/${name}`)
      return [yield* log.readCurrent, yield* read("audit.log.1"), yield* read("audit.log.2"), yield* fs.exists("/var/lib/keel/audit/audit.log.3")]
    }))
    expect(exit).toEqual(Exit.succeed(["gggggggg\n", "eeeeeeee\nffffffff\n", "cccccccc\ndddddddd\n", false]))
  })

  it("reads an absent file as empty", () => {
    const hw = new SimHardware({ seed: 4 })
    const exit = withHardware(hw, Effect.flatMap(RotatingFile.make("/nowhere/x.log", { maxBytes: 100, keep: 1 }), (log) => log.readCurrent))
    expect(exit).toEqual(Exit.succeed(""))
  })
})
