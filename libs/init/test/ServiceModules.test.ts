/**
 * On a node, the kernel modules only services need load while the agent starts: keel-init holds
 * every other service, and the watchdog, until they are in.
 */
import { assert, describe, it } from "@effect/vitest"
import { Effect, Layer, Stream } from "effect"
import { TestClock } from "effect/testing"
import type { ServiceSpec } from "@keelos/domain"
import { ControlSocket, Kernel, Mounts, Power, Reaper, Signals, Watchdog } from "@keelos/platform"
import { SimDhcpSockets, SimHardware, SimLinks, SimVolumes } from "@keelos/platform-sim"
import { Init } from "../src/index.ts"

const service = (name: string) => ({
  kind: "service" as const, name: name as ServiceSpec.ServiceName, command: `/usr/bin/${name}`, args: [], env: {}, restart: "permanent" as const,
  shutdownGraceMillis: 1_000, dependsOn: [], readiness: { _tag: "ProcessAlive" as const }, readyTimeoutMillis: 5_000,
  backoff: { initialMillis: 100, maxMillis: 100, resetAfterMillis: 1_000 }, optional: false
})

describe("service modules on a node", () => {
  it.effect("the agent starts while overlay loads; containerd and the watchdog wait for it", () =>
    Effect.gen(function*() {
      const hw = new SimHardware({ seed: 3, dataBytes: 4 << 20 })
      hw.processes.install("/sbin/mkfs.ext4", () => ({ exitAfterMillis: 0 }))
      const events: Array<string> = []
      for (const name of ["keel-agent", "containerd"]) hw.processes.install(`/usr/bin/${name}`, () => (events.push(`start ${name}`), {}))
      const layer = Layer.mergeAll(
        hw.layer(),
        Layer.succeed(Mounts.Mounts)({
          list: Effect.succeed(["/", "/dev", "/proc", "/sys"].map((target) => ({ source: "x", target, fstype: "x", options: [] }))),
          mount: () => Effect.void,
          unmount: () => Effect.void
        }),
        Layer.succeed(Kernel.Kernel)({
          cmdline: Effect.succeed([]),
          // overlay takes a second: long after the agent has started
          loadModule: (name) => Effect.andThen(Effect.sleep(name === "overlay" ? 1_000 : 10), Effect.sync(() => void events.push(`loaded ${name}`))),
          setHostname: () => Effect.void,
          prefetch: () => Effect.void
        }),
        SimLinks.make(["lo"]).layer,
        SimDhcpSockets.make().layer,
        Layer.succeed(Signals.Signals)({ receive: () => Stream.never }),
        Layer.succeed(Reaper.Reaper)({ scan: () => Effect.succeed([]), reap: () => Effect.succeed(undefined) }),
        Layer.succeed(Power.Power)({ sync: Effect.void, switchOff: () => Effect.never }),
        Layer.succeed(ControlSocket.ControlSocket)({ listen: (path) => Effect.succeed({ address: { _tag: "UnixAddress", path }, run: () => Effect.never } as never) }),
        Layer.succeed(Watchdog.Watchdog)({ arm: Effect.sync(() => void events.push("watchdog armed")).pipe(Effect.andThen(Effect.fail({ message: "no device" } as never))) }),
        SimVolumes.layer({})
      )
      const config = {
        mode: "node" as const,
        controlSocket: "/run/keel/init.sock",
        reapIntervalMillis: 1_000,
        watchdog: { intervalMillis: 1_000, answerWithinMillis: 1_000 },
        earlyBoot: { hostname: "n1", modules: ["virtio_net"], serviceModules: { modules: ["overlay"], notNeededBy: ["keel-agent"] }, mkfs: "/sbin/mkfs.ext4" },
        services: {
          kind: "group" as const, name: "root" as ServiceSpec.ServiceName, restart: "permanent" as const, strategy: "one_for_one" as const,
          maxRestarts: 3, periodMillis: 60_000, dependsOn: [], backoff: { initialMillis: 100, maxMillis: 100, resetAfterMillis: 1_000 },
          children: [service("keel-agent"), service("containerd")]
        }
      }
      yield* Effect.forkChild(Init.runGuarded(config).pipe(Effect.provide(layer)))
      for (let i = 0; i < 30; i++) {
        yield* TestClock.adjust(100)
        for (let j = 0; j < 20; j++) yield* Effect.yieldNow
      }
      assert.sameMembers(events, ["loaded virtio_net", "start keel-agent", "loaded overlay", "watchdog armed", "start containerd"])
      assert.isBelow(events.indexOf("start keel-agent"), events.indexOf("loaded overlay"))
      assert.isAbove(events.indexOf("start containerd"), events.indexOf("loaded overlay"))
      assert.isAbove(events.indexOf("watchdog armed"), events.indexOf("loaded overlay"))
    }))
})
