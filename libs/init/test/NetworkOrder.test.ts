/**
 * On a node, the services named to go before the network (the agent, the way in) start as soon as
 * the data partition and the seed are there; the network modules load and the network comes up
 * while they start, and every other service waits for that.
 */
import { assert, describe, it } from "@effect/vitest"
import { Effect, Fiber, Layer, Queue, Stream } from "effect"
import { TestClock } from "effect/testing"
import type { ServiceSpec } from "@keelos/domain"
import { ControlSocket, Kernel, Mounts, Power, Reaper, Signals, Watchdog } from "@keelos/platform"
import { SimDhcpSockets, SimHardware, SimLinks, SimVolumes } from "@keelos/platform-sim"
import { Init } from "../src/index.ts"

const service = (name: string): ServiceSpec.ServiceSpec => ({
  kind: "service", name: name as ServiceSpec.ServiceName, command: `/usr/bin/${name}`, args: [], env: {}, restart: "permanent",
  shutdownGraceMillis: 1_000, dependsOn: [], readiness: { _tag: "ProcessAlive" }, readyTimeoutMillis: 5_000,
  backoff: { initialMillis: 100, maxMillis: 100, resetAfterMillis: 1_000 }, optional: false
})

const advance = (millis: number) =>
  Effect.gen(function*() {
    for (let t = 0; t < millis; t += 100) {
      yield* TestClock.adjust(100)
      for (let j = 0; j < 20; j++) yield* Effect.yieldNow
    }
  })

describe("services before the network", () => {
  it.effect("the agent is spawned before the network modules load; containerd waits for the network", () =>
    Effect.gen(function*() {
      const hw = new SimHardware({ seed: 3, dataBytes: 4 << 20 })
      hw.processes.install("/sbin/mkfs.ext4", () => ({ exitAfterMillis: 0 }))
      const order: Array<string> = []
      for (const name of ["keel-agent", "containerd"]) {
        hw.processes.install(`/usr/bin/${name}`, () => {
          order.push(`spawn ${name}`)
          return {}
        })
      }
      const signals = yield* Queue.unbounded<Signals.Signal>()
      const layer = Layer.mergeAll(
        hw.layer(),
        Layer.succeed(Mounts.Mounts)({
          list: Effect.succeed(["/", "/dev", "/proc", "/sys"].map((target) => ({ source: "x", target, fstype: "x", options: [] }))),
          mount: () => Effect.void,
          unmount: () => Effect.void
        }),
        Layer.succeed(Kernel.Kernel)({
          cmdline: Effect.succeed([]),
          // A network module takes 2 s to load; the others no time.
          loadModule: (name) =>
            name === "overlay"
              ? Effect.sync(() => void order.push("overlay loading")).pipe(Effect.andThen(Effect.sleep("2 seconds")), Effect.andThen(Effect.sync(() => void order.push("overlay loaded"))))
              : Effect.sync(() => void order.push(`module ${name}`)),
          setHostname: () => Effect.void
        }),
        SimLinks.make(["lo"]).layer,
        SimDhcpSockets.make().layer,
        Layer.succeed(Signals.Signals)({ receive: (wanted) => Stream.fromQueue(signals).pipe(Stream.filter((s) => wanted.includes(s))) }),
        Layer.succeed(Reaper.Reaper)({ scan: () => Effect.succeed([]), reap: () => Effect.succeed(undefined) }),
        Layer.succeed(Power.Power)({ sync: Effect.void, switchOff: () => Effect.never }),
        Layer.succeed(ControlSocket.ControlSocket)({ listen: (path) => Effect.succeed({ address: { _tag: "UnixAddress", path }, run: () => Effect.never } as never) }),
        Layer.succeed(Watchdog.Watchdog)({ arm: Effect.die("no watchdog in this test") }),
        SimVolumes.layer({})
      )
      const config = {
        mode: "node" as const,
        controlSocket: "/run/keel/init.sock",
        reapIntervalMillis: 1_000,
        earlyBoot: { hostname: "n1", modules: ["vfat"], networkModules: ["overlay"], servicesBeforeNetwork: ["keel-agent"], mkfs: "/sbin/mkfs.ext4" },
        services: {
          kind: "group" as const, name: "root" as ServiceSpec.ServiceName, restart: "permanent" as const, strategy: "one_for_one" as const,
          maxRestarts: 3, periodMillis: 60_000, dependsOn: [], backoff: { initialMillis: 100, maxMillis: 100, resetAfterMillis: 1_000 },
          children: [service("keel-agent"), service("containerd")]
        }
      }
      const init = yield* Effect.forkChild(Init.runGuarded(config).pipe(Effect.provide(layer)))
      yield* advance(1_000)
      assert.deepStrictEqual(order, ["module vfat", "spawn keel-agent", "overlay loading"])
      yield* advance(1_500)
      assert.deepStrictEqual(order, ["module vfat", "spawn keel-agent", "overlay loading", "overlay loaded", "spawn containerd"])
      yield* Fiber.interrupt(init)
    }))
})
