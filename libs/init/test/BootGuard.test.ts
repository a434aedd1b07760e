import { assert, describe, it } from "@effect/vitest"
import { Effect, Fiber, Layer, Ref } from "effect"
import { TestClock } from "effect/testing"
import type { ServiceSpec } from "@keelos/domain"
import { Kernel } from "@keelos/platform"
import { SimHardware } from "@keelos/platform-sim"
import { BootGuard } from "../src/index.ts"

const config: BootGuard.BootGuardConfig = { maxUnstableBoots: 3, stableAfterMillis: 60_000, maintenanceServices: ["keel-agent"] }

const node = () => new SimHardware({ seed: 7, dataBytes: 1 << 20 })
const bootOf = (hw: SimHardware, slot: string) =>
  Layer.mergeAll(
    hw.layer(),
    Layer.succeed(Kernel.Kernel)({ cmdline: Effect.succeed(["console=ttyS0", `keel.slot=${slot}`]), loadModule: () => Effect.void, setHostname: () => Effect.void, prefetch: () => Effect.void })
  )

/** Boots `slot` once: decides, and marks the boot stable when `stable`. */
const boot = (hw: SimHardware, slot: string, stable: boolean) =>
  Effect.gen(function*() {
    const guard = yield* BootGuard.begin(config)
    if (stable) yield* guard.markStable
    return guard.decision
  }).pipe(Effect.provide(bootOf(hw, slot)))

describe("BootGuard", () => {
  it.effect("the fourth unstable boot in a row of one slot is a maintenance boot, and stays one", () =>
    Effect.gen(function*() {
      const hw = node()
      const decisions = []
      for (let i = 0; i < 5; i++) decisions.push(yield* boot(hw, "B", false))
      assert.deepStrictEqual(decisions.map((d) => [d.unstableBefore, d.maintenance]), [[0, false], [1, false], [2, false], [3, true], [4, true]])
      // Even stable, maintenance does not end by itself: it ends when another slot boots.
      assert.strictEqual((yield* boot(hw, "B", true)).maintenance, true)
      assert.deepStrictEqual(yield* boot(hw, "A", false), { slot: "A", unstableBefore: 0, maintenance: false })
    }))

  it.effect("a stable boot starts the count again; the count survives power cuts (it is synced)", () =>
    Effect.gen(function*() {
      const hw = node()
      yield* boot(hw, "A", false)
      yield* boot(hw, "A", false)
      hw.crash()
      hw.powerOn()
      assert.strictEqual((yield* boot(hw, "A", true)).unstableBefore, 2)
      hw.crash()
      hw.powerOn()
      assert.strictEqual((yield* boot(hw, "A", false)).unstableBefore, 0)
    }))

  it("maintenance keeps only the named services and drops dependencies on the rest", () => {
    const service = (name: string, dependsOn: ReadonlyArray<string> = []) => ({
      kind: "service" as const, name, command: "/bin/true", args: [], env: {}, restart: "permanent" as const, shutdownGraceMillis: 1000,
      dependsOn, readiness: { _tag: "ProcessAlive" as const }, readyTimeoutMillis: 1000, backoff: { initialMillis: 100, maxMillis: 1000, resetAfterMillis: 1000 }, optional: false
    }) as unknown as ServiceSpec.ServiceSpec
    const group = (name: string, children: ReadonlyArray<ServiceSpec.ChildSpec>) => ({
      kind: "group" as const, name, restart: "permanent" as const, strategy: "one_for_one" as const, maxRestarts: 3, periodMillis: 1000,
      dependsOn: [], backoff: { initialMillis: 100, maxMillis: 1000, resetAfterMillis: 1000 }, children
    }) as unknown as ServiceSpec.GroupSpec
    const tree = group("root", [service("keel-agent", ["containerd"]), service("containerd", ["keel-agent"]), group("k8s", [service("kubelet")])])
    const kept = BootGuard.maintenanceTree(tree, ["keel-agent"])
    assert.deepStrictEqual(kept.children.map((c) => [c.name as string, [...c.dependsOn] as Array<string>]), [["keel-agent", []]])
  })

  it.effect("stable means every service running for the whole period, without a break", () =>
    Effect.gen(function*() {
      const running = yield* Ref.make(true)
      const fiber = yield* Effect.forkChild(BootGuard.awaitStable(Ref.get(running), 60_000))
      yield* TestClock.adjust(30_000)
      yield* Ref.set(running, false)
      yield* TestClock.adjust(2_000)
      yield* Ref.set(running, true)
      yield* TestClock.adjust(59_000)
      assert.isUndefined(fiber.pollUnsafe(), "a break restarts the period")
      yield* TestClock.adjust(2_000)
      yield* Fiber.join(fiber)
    }))
})
