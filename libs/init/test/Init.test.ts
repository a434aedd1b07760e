/**
 * The init program on the TestClock over simulated processes, with scripted signals, zombies and
 * power: what it stops for, what it reaps, and what it does on a node.
 */
import { assert, describe, it } from "@effect/vitest"
import { Effect, Fiber, Layer, Path, Queue, Stream } from "effect"
import { TestClock } from "effect/testing"
import type { ServiceSpec } from "@keelos/domain"
import { BlockDevice, ControlSocket, Kernel, Mounts, Power, Reaper, Signals, Watchdog } from "@keelos/platform"
import { PowerSupply, Prng, SimDhcpSockets, SimFileSystem, SimLinks, SimNetwork, SimProcesses, SimVolumes, Trace } from "@keelos/platform-sim"

const simFileSystem = () => {
  const trace = new Trace()
  return new SimFileSystem(new PowerSupply(trace), trace).layer()
}
import { Init } from "../src/index.ts"
import type { InitConfig } from "../src/InitConfig.ts"

const backoff = { initialMillis: 100, maxMillis: 100, resetAfterMillis: 60_000 }
const service = (name: string): ServiceSpec.ServiceSpec => ({
  kind: "service", name: name as ServiceSpec.ServiceName, command: `/usr/bin/${name}`, args: [], env: {}, restart: "permanent",
  shutdownGraceMillis: 1_000, dependsOn: [], readiness: { _tag: "ProcessAlive" }, readyTimeoutMillis: 5_000, backoff, optional: false
})
const config = (mode: "host" | "node", maxRestarts = 100): InitConfig => ({
  mode,
  controlSocket: "/run/keel/init.sock",
  reapIntervalMillis: 1_000,
  services: { kind: "group", name: "root" as ServiceSpec.ServiceName, restart: "permanent", strategy: "one_for_one", maxRestarts, periodMillis: 60_000, dependsOn: [], backoff, children: [service("containerd"), service("keel-agent")] }
})

const settle = Effect.gen(function*() {
  for (let i = 0; i < 50; i++) yield* Effect.yieldNow
})
const advance = (millis: number) =>
  Effect.gen(function*() {
    for (let t = 0; t < millis; t += 50) {
      yield* settle
      yield* TestClock.adjust(50)
    }
    yield* settle
  })

const harness = () => Effect.gen(function*() {
  const trace = new Trace()
  const processes = new SimProcesses.SimProcesses(new Prng(1), trace)
  processes.install("/usr/bin/containerd", () => ({}))
  processes.install("/usr/bin/keel-agent", () => ({}))
  const signals = yield* Queue.unbounded<Signals.Signal>()
  // Zombies the fake kernel reports: an adopted orphan (4242), and every pid Node spawned.
  const zombies = new Set<number>([4242])
  const reaped: Array<number> = []
  const scannedOwn: Array<ReadonlySet<number>> = []
  const powerCalls: Array<string> = []
  const layer = Layer.mergeAll(
    processes.layer(),
    processes.socketsLayer(),
    new SimNetwork.SimNetwork(new Prng(2), trace).layer(),
    Layer.succeed(Signals.Signals)({
      receive: (wanted) => Stream.fromQueue(signals).pipe(Stream.filter((s) => wanted.includes(s)))
    }),
    Layer.succeed(Reaper.Reaper)({
      scan: (own) =>
        Effect.sync(() => {
          scannedOwn.push(own)
          return [...zombies, ...processes.list().map((p) => p.pid)].filter((pid) => !own.has(pid))
        }),
      reap: (pid) => Effect.sync(() => {
        zombies.delete(pid)
        reaped.push(pid)
        return { pid, status: 0 }
      })
    }),
    Layer.succeed(Power.Power)({
      sync: Effect.sync(() => void powerCalls.push("sync")),
      switchOff: (action) => Effect.andThen(Effect.sync(() => powerCalls.push(action)), Effect.never)
    }),
    Layer.succeed(ControlSocket.ControlSocket)({
      listen: (path) => Effect.succeed({ address: { _tag: "UnixAddress", path }, run: () => Effect.never } as never)
    }),
    // Early boot has tests of its own; these configurations have none, so these are never called.
    Layer.succeed(Mounts.Mounts)({ list: Effect.die("unused"), mount: () => Effect.die("unused"), unmount: () => Effect.die("unused") }),
    Layer.succeed(Kernel.Kernel)({ cmdline: Effect.die("unused"), loadModule: () => Effect.die("unused"), setHostname: () => Effect.die("unused"), prefetch: () => Effect.die("unused") }),
    SimLinks.make([]).layer,
    SimDhcpSockets.make().layer,
    Layer.succeed(BlockDevice.BlockDevices)({ open: () => Effect.die("unused") }),
    Layer.succeed(Watchdog.Watchdog)({ arm: Effect.die("unused") }),
    SimVolumes.layer({}),
    simFileSystem(),
    Path.layer
  )
  return { processes, signals, zombies, reaped, scannedOwn, powerCalls, layer }
})

describe("keel-init program", () => {
  it.effect("reaps an adopted orphan only after the grace period, and never a pid Node spawned", () =>
    Effect.gen(function*() {
      const h = yield* harness()
      const init = yield* Effect.forkChild(Init.run(config("host")).pipe(Effect.provide(h.layer)))
      yield* advance(1_500)
      // first seen by the scan at 1000 ms; the grace keeps it until the scan at 2000 ms
      assert.deepStrictEqual(h.reaped, [])
      yield* advance(600)
      assert.deepStrictEqual(h.reaped, [4242])
      const spawned = h.processes.list().map((p) => p.pid)
      assert.strictEqual(spawned.length, 2)
      assert.isTrue(spawned.every((pid) => h.scannedOwn.at(-1)!.has(pid)))
      yield* Queue.offer(h.signals, "SIGPWR")
      yield* advance(2_000)
      const outcome = yield* Fiber.join(init)
      assert.deepStrictEqual(outcome, { action: "poweroff", reason: "SIGPWR: power failure", reaped: 1 })
      assert.deepStrictEqual(h.processes.list(), [])
    }))

  it.effect("reboots when the root supervision group gives up", () =>
    Effect.gen(function*() {
      const h = yield* harness()
      h.processes.install("/usr/bin/containerd", () => ({ exitAfterMillis: 10, exitCode: 1 }))
      const init = yield* Effect.forkChild(Init.run(config("host", 2)).pipe(Effect.provide(h.layer)))
      yield* advance(2_000)
      const outcome = yield* Fiber.join(init)
      assert.strictEqual(outcome.action, "reboot")
      assert.match(outcome.reason, /^supervision gave up: group root gave up: 3 restarts within 60000 ms, last of containerd$/)
    }))

  it.effect("on a node, syncs and switches off with the requested action; SIGINT is Ctrl-Alt-Del", () =>
    Effect.gen(function*() {
      const h = yield* harness()
      yield* Effect.forkChild(Init.runGuarded(config("node")).pipe(Effect.provide(h.layer)))
      yield* advance(200)
      yield* Queue.offer(h.signals, "SIGINT")
      yield* advance(2_000)
      assert.deepStrictEqual(h.powerCalls, ["sync", "reboot"])
      assert.deepStrictEqual(h.processes.list(), [])
    }))
})
