/**
 * On a node, an orderly stop records why in a journal on the data partition, unmounts it, syncs and
 * only then switches off.
 */
import { assert, describe, it } from "@effect/vitest"
import { Effect, FileSystem, Layer, Queue, Stream } from "effect"
import { TestClock } from "effect/testing"
import type { ServiceSpec } from "@keelos/domain"
import { ControlSocket, Kernel, Mounts, Power, Reaper, Signals, Watchdog } from "@keelos/platform"
import { SimDhcpSockets, SimHardware, SimLinks, SimVolumes } from "@keelos/platform-sim"
import { Init } from "../src/index.ts"

describe("orderly shutdown on a node", () => {
  it.effect("journals the reason on the data partition and unmounts it before switching off", () =>
    Effect.gen(function*() {
      const hw = new SimHardware({ seed: 9, dataBytes: 4 << 20 })
      hw.processes.install("/sbin/mkfs.ext4", () => ({ exitAfterMillis: 0 }))
      const signals = yield* Queue.unbounded<Signals.Signal>()
      const calls: Array<string> = []
      const layer = Layer.mergeAll(
        hw.layer(),
        Layer.succeed(Mounts.Mounts)({
          list: Effect.succeed(["/", "/dev", "/proc", "/sys"].map((target) => ({ source: "x", target, fstype: "x", options: [] }))),
          mount: (request) => Effect.sync(() => void calls.push(`mount ${request.target}`)),
          unmount: (target) => Effect.sync(() => void calls.push(`unmount ${target}`))
        }),
        Layer.succeed(Kernel.Kernel)({ cmdline: Effect.succeed([]), loadModule: () => Effect.void, setHostname: () => Effect.void, prefetch: () => Effect.void }),
        SimLinks.make(["lo"]).layer,
        SimDhcpSockets.make().layer,
        Layer.succeed(Signals.Signals)({ receive: (wanted) => Stream.fromQueue(signals).pipe(Stream.filter((s) => wanted.includes(s))) }),
        Layer.succeed(Reaper.Reaper)({ scan: () => Effect.succeed([]), reap: () => Effect.succeed(undefined) }),
        Layer.succeed(Power.Power)({
          sync: Effect.sync(() => void calls.push("sync")),
          switchOff: (action) => Effect.andThen(Effect.sync(() => calls.push(action)), Effect.never)
        }),
        Layer.succeed(ControlSocket.ControlSocket)({ listen: (path) => Effect.succeed({ address: { _tag: "UnixAddress", path }, run: () => Effect.never } as never) }),
        Layer.succeed(Watchdog.Watchdog)({ arm: Effect.die("no watchdog in this test") }),
        SimVolumes.layer({})
      )
      const config = {
        mode: "node" as const,
        controlSocket: "/run/keel/init.sock",
        reapIntervalMillis: 1_000,
        earlyBoot: { hostname: "n1", modules: [], mkfs: "/sbin/mkfs.ext4" },
        services: {
          kind: "group" as const, name: "root" as ServiceSpec.ServiceName, restart: "permanent" as const, strategy: "one_for_one" as const,
          maxRestarts: 3, periodMillis: 60_000, dependsOn: [], backoff: { initialMillis: 100, maxMillis: 100, resetAfterMillis: 1_000 }, children: []
        }
      }
      yield* Effect.forkChild(Init.runGuarded(config).pipe(Effect.provide(layer)))
      for (let i = 0; i < 20; i++) {
        yield* TestClock.adjust(100)
        for (let j = 0; j < 20; j++) yield* Effect.yieldNow
      }
      yield* Queue.offer(signals, "SIGPWR")
      for (let i = 0; i < 20; i++) {
        yield* TestClock.adjust(100)
        for (let j = 0; j < 20; j++) yield* Effect.yieldNow
      }
      const tail = calls.slice(-3)
      assert.deepStrictEqual(tail, ["unmount /var/lib/keel", "sync", "poweroff"])
      const journal = JSON.parse(yield* Effect.flatMap(FileSystem.FileSystem, (fs) => fs.readFileString(Init.powerJournalPath)).pipe(Effect.provide(hw.layer())))
      assert.deepStrictEqual(journal.entries.map((e: { action: string; reason: string }) => [e.action, e.reason]), [["poweroff", "SIGPWR: power failure"]])
    }))
})
