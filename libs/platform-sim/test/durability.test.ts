import { describe, expect, it } from "vitest"
import { Cause, Effect, Exit, FileSystem } from "effect"
import type { Scope } from "effect"
import { BlockDevice } from "@keelos/platform"
import { PowerLost, SimHardware } from "../src/index.ts"

const text = (bytes: Uint8Array | undefined) => (bytes === undefined ? undefined : new TextDecoder().decode(bytes))

const run = <A, E>(hw: SimHardware, effect: Effect.Effect<A, E, FileSystem.FileSystem | BlockDevice.BlockDevices | Scope.Scope>) =>
  Effect.runSyncExit(Effect.scoped(effect).pipe(Effect.provide(hw.layer())))

describe("SimDisk", () => {
  it("keeps synced writes and loses, tears or keeps unsynced ones on a crash", () => {
    const seen = new Set<string>()
    for (let seed = 1; seed <= 200; seed++) {
      const hw = new SimHardware({ seed })
      const exit = run(hw, Effect.gen(function*() {
        const slot = yield* (yield* BlockDevice.BlockDevices).open("KEELOS_ROOT_A")
        yield* slot.write(0, new Uint8Array(1024).fill(1))
        yield* slot.sync
        yield* slot.write(0, new Uint8Array(1024).fill(2))
      }))
      expect(Exit.isSuccess(exit)).toBe(true)
      hw.crash()
      const after = hw.disk.read("KEELOS_ROOT_A", 0, 1024)
      const first = after[0]!
      const second = after[600]!
      seen.add(first === second ? (first === 1 ? "lost" : "whole") : "torn")
      // Sector granularity: each 512-byte sector is all old or all new.
      expect(new Set(after.subarray(0, 512)).size).toBe(1)
      expect(new Set(after.subarray(512)).size).toBe(1)
    }
    expect([...seen].sort()).toEqual(["lost", "torn", "whole"])
  })

  it("cuts the power at a planned operation and refuses everything after", () => {
    const hw = new SimHardware({ seed: 7 })
    hw.power.planCut(2)
    const exit = run(hw, Effect.gen(function*() {
      const slot = yield* (yield* BlockDevice.BlockDevices).open("KEELOS_ROOT_A")
      yield* slot.write(0, new Uint8Array([1]))
      yield* slot.write(1, new Uint8Array([2]))
      return "not reached"
    }))
    expect(Exit.isFailure(exit) && Cause.hasDies(exit.cause)).toBe(true)
    const defect = Exit.isFailure(exit) ? Cause.squash(exit.cause) : undefined
    expect(defect).toBeInstanceOf(PowerLost)
    expect(hw.power.powered).toBe(false)
  })
})

describe("SimFileSystem", () => {
  const writeThenRename = (fsyncData: boolean) => (fs: FileSystem.FileSystem) =>
    Effect.gen(function*() {
      yield* fs.makeDirectory("/state", { recursive: true })
      const dir = yield* fs.open("/state", { flag: "r" })
      yield* fs.writeFile("/state/v", new TextEncoder().encode("old"))
      const f0 = yield* fs.open("/state/v", { flag: "r+" })
      yield* f0.sync
      yield* dir.sync
      const tmp = yield* fs.open("/state/v.tmp", { flag: "w" })
      yield* tmp.writeAll(new TextEncoder().encode("new"))
      if (fsyncData) yield* tmp.sync
      yield* fs.rename("/state/v.tmp", "/state/v")
      yield* dir.sync
    })

  it("keeps old or new content after a crash when data is synced before the rename", () => {
    for (let seed = 1; seed <= 200; seed++) {
      const hw = new SimHardware({ seed })
      expect(Exit.isSuccess(run(hw, Effect.flatMap(FileSystem.FileSystem, writeThenRename(true))))).toBe(true)
      hw.crash()
      expect(text(hw.fs.durableContent("/state/v"))).toBe("new")
    }
  })

  it("exposes the lost update when the data is not synced before the rename", () => {
    const outcomes = new Set<string | undefined>()
    for (let seed = 1; seed <= 200; seed++) {
      const hw = new SimHardware({ seed })
      run(hw, Effect.flatMap(FileSystem.FileSystem, writeThenRename(false)))
      hw.crash()
      outcomes.add(text(hw.fs.durableContent("/state/v")))
    }
    expect(outcomes.has("")).toBe(true)
    expect(outcomes.has("new")).toBe(true)
  })

  it("forgets a created file whose directory was never synced, for some crash outcomes", () => {
    const present = new Set<boolean>()
    for (let seed = 1; seed <= 100; seed++) {
      const hw = new SimHardware({ seed })
      run(hw, Effect.gen(function*() {
        const fs = yield* FileSystem.FileSystem
        const f = yield* fs.open("/x", { flag: "w" })
        yield* f.writeAll(new Uint8Array([1]))
        yield* f.sync
      }))
      hw.crash()
      present.add(hw.fs.durableContent("/x") !== undefined)
    }
    expect([...present].sort()).toEqual([false, true])
  })
})
