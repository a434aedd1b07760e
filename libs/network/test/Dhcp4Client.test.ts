// The DHCPv4 client's timers and state machine on TestClock, against a scripted server: a lease's
// whole life (acquire, renew at T1, rebind at T2, expiry, NAK, release) in simulated hours.
import { assert, describe, it } from "@effect/vitest"
import { Effect, Fiber } from "effect"
import { TestClock } from "effect/testing"
import { Dhcp4Client } from "../src/index.ts"
import * as ScriptedServer from "./ScriptedServer.ts"

const mac = "52:54:00:12:34:56"

interface Event {
  readonly atMillis: number
  readonly event: string
}

const start = (server: ReturnType<typeof ScriptedServer.make>, remembered?: string) =>
  Effect.gen(function*() {
    const events: Array<Event> = []
    const leases: Array<Dhcp4Client.Lease> = []
    const at = Effect.clockWith((clock) => Effect.sync(() => clock.currentTimeMillisUnsafe()))
    const fiber = yield* Dhcp4Client.run({
      link: "eth0",
      mac,
      hostname: "node-1",
      ...(remembered === undefined ? {} : { remembered }),
      bound: (lease, previous) =>
        Effect.flatMap(at, (atMillis) =>
          Effect.sync(() => {
            leases.push(lease)
            events.push({ atMillis, event: `${previous === undefined ? "bound" : "renewed"} ${lease.address}/${lease.prefix}` })
          })),
      lost: (lease, reason) => Effect.flatMap(at, (atMillis) => Effect.sync(() => events.push({ atMillis, event: `lost ${lease.address} ${reason}` }))),
      log: () => Effect.void
    }).pipe(Effect.provide(server.layer), Effect.forkChild)
    // Let it run its first exchange.
    yield* TestClock.adjust(0)
    return { fiber, events, leases }
  })

const advance = (millis: number, step = 1000) =>
  Effect.gen(function*() {
    for (let t = 0; t < millis; t += step) yield* TestClock.adjust(step)
  })

describe("Dhcp4Client", () => {
  it.effect("acquires a lease: DISCOVER and REQUEST broadcast, the lease carries what the server said", () =>
    Effect.gen(function*() {
      const server = ScriptedServer.make()
      const { events, leases } = yield* start(server)
      assert.deepStrictEqual(server.seen.map((s) => [s.type, s.to, s.requested, s.server]), [
        ["DISCOVER", "255.255.255.255", undefined, undefined],
        ["REQUEST", "255.255.255.255", "10.0.2.15", ScriptedServer.serverAddress]
      ])
      assert.deepStrictEqual(events, [{ atMillis: 0, event: "bound 10.0.2.15/24" }])
      const { sentAtMillis: _, ...lease } = leases[0]!
      assert.deepStrictEqual(lease, {
        link: "eth0",
        address: "10.0.2.15",
        prefix: 24,
        server: "10.0.2.2",
        routers: ["10.0.2.2"],
        routes: [],
        nameservers: ["10.0.2.3", "1.1.1.1"],
        domain: "example.test",
        mtu: 1400,
        leaseSeconds: 3600,
        renewSeconds: 1800,
        rebindSeconds: 3150
      })
    }))

  it.effect("renews at T1 by unicast to its server, and again at the next T1", () =>
    Effect.gen(function*() {
      const server = ScriptedServer.make({ leaseSeconds: 600, renewSeconds: 100, rebindSeconds: 500 })
      const { events } = yield* start(server)
      yield* advance(99_000)
      assert.strictEqual(server.seen.length, 2)
      yield* advance(1000)
      yield* advance(100_000)
      assert.deepStrictEqual(events.map((e) => `${e.atMillis / 1000} ${e.event}`), ["0 bound 10.0.2.15/24", "100 renewed 10.0.2.15/24", "200 renewed 10.0.2.15/24"])
      assert.deepStrictEqual(server.seen.slice(2).map((s) => [s.type, s.to, s.ciaddr, s.requested]), [
        ["REQUEST", "10.0.2.2", "10.0.2.15", undefined],
        ["REQUEST", "10.0.2.2", "10.0.2.15", undefined]
      ])
    }))

  it.effect("server gone: unicast until T2, broadcast until the lease ends, then the lease is lost and discovery starts over", () =>
    Effect.gen(function*() {
      const server = ScriptedServer.make({ leaseSeconds: 1000 })
      const { events } = yield* start(server)
      server.behaviour.up = false
      yield* advance(1_100_000, 5000)
      const after = server.seen.slice(2).map((s) => `${s.atMillis / 1000} ${s.type} ${s.to === "255.255.255.255" ? "broadcast" : "unicast"}`)
      // T1 500 s: unicast at 500, then half the time left to T2 (875 s), at least 60 s apart.
      assert.deepStrictEqual(after.slice(0, 4), ["500 REQUEST unicast", "687.5 REQUEST unicast", "781.25 REQUEST unicast", "841.25 REQUEST unicast"])
      // T2: broadcast, at half the time left but at least 60 s apart, up to the lease's end at 1000 s.
      assert.deepStrictEqual(after.slice(4, 7), ["875 REQUEST broadcast", "937.5 REQUEST broadcast", "997.5 REQUEST broadcast"])
      assert.deepStrictEqual(events.map((e) => `${e.atMillis / 1000} ${e.event}`), ["0 bound 10.0.2.15/24", "1000 lost 10.0.2.15 expired"])
      assert.isTrue(after.slice(7).every((line) => line.endsWith("DISCOVER broadcast")))
      // Discovery retransmits at 4, 8, 16, 32, then every 64 seconds, each ±1 s.
      const discovers = server.seen.filter((s) => s.atMillis >= 1_000_000 && s.type === "DISCOVER").map((s) => s.atMillis)
      const gaps = discovers.slice(1).map((t, i) => (t - discovers[i]!) / 1000)
      assert.isAtLeast(gaps.length, 2)
      gaps.forEach((gap, i) => assert.approximately(gap, Math.min(64, 4 * 2 ** i), 1.0001))
      server.behaviour.up = true
      yield* advance(70_000)
      assert.strictEqual(events.at(-1)!.event, "bound 10.0.2.15/24")
    }))

  it.effect("a NAK to a renewal loses the lease at once and acquires a new one", () =>
    Effect.gen(function*() {
      const server = ScriptedServer.make({ leaseSeconds: 200 })
      const { events } = yield* start(server)
      server.behaviour.nakRenewals = true
      server.behaviour.address = "10.0.2.16"
      yield* advance(100_000)
      assert.deepStrictEqual(events.map((e) => `${e.atMillis / 1000} ${e.event}`), ["0 bound 10.0.2.15/24", "100 lost 10.0.2.15 refused", "100 bound 10.0.2.16/24"])
    }))

  it.effect("interrupted, it releases its lease to the server that granted it", () =>
    Effect.gen(function*() {
      const server = ScriptedServer.make()
      const { fiber, events } = yield* start(server)
      yield* advance(10_000)
      yield* Fiber.interrupt(fiber)
      assert.deepStrictEqual(server.seen.at(-1)!.type, "RELEASE")
      assert.deepStrictEqual([server.seen.at(-1)!.to, server.seen.at(-1)!.ciaddr, server.seen.at(-1)!.server], ["10.0.2.2", "10.0.2.15", "10.0.2.2"])
      assert.deepStrictEqual(events.at(-1)!.event, "lost 10.0.2.15 released")
    }))

  it.effect("an infinite lease is never renewed", () =>
    Effect.gen(function*() {
      const server = ScriptedServer.make({ leaseSeconds: Dhcp4Client.infinite })
      yield* start(server)
      yield* advance(10 * 24 * 3600_000, 3600_000)
      assert.strictEqual(server.seen.length, 2)
    }))

  it.effect("after a reboot, asks for the remembered address first (INIT-REBOOT) and skips discovery when it is granted", () =>
    Effect.gen(function*() {
      const server = ScriptedServer.make()
      const { events } = yield* start(server, "10.0.2.15")
      assert.deepStrictEqual(server.seen.map((s) => [s.type, s.to, s.ciaddr, s.requested, s.server]), [["REQUEST", "255.255.255.255", "0.0.0.0", "10.0.2.15", undefined]])
      assert.deepStrictEqual(events, [{ atMillis: 0, event: "bound 10.0.2.15/24" }])
    }))

  it.effect("a refused or unanswered INIT-REBOOT falls back to discovery", () =>
    Effect.gen(function*() {
      const refusing = ScriptedServer.make({ nakReboots: true, address: "10.0.2.16" })
      const refused = yield* start(refusing, "10.0.2.15")
      assert.deepStrictEqual(refusing.seen.map((s) => s.type), ["REQUEST", "DISCOVER", "REQUEST"])
      assert.deepStrictEqual(refused.events.map((e) => e.event), ["bound 10.0.2.16/24"])
      const silent = ScriptedServer.make({ up: false })
      const unanswered = yield* start(silent, "10.0.2.15")
      yield* advance(14_000)
      const [first, second, third] = silent.seen
      assert.deepStrictEqual([first?.type, second?.type, third?.type], ["REQUEST", "REQUEST", "DISCOVER"])
      assert.approximately((second!.atMillis - first!.atMillis) / 1000, 4, 1.0001)
      assert.approximately((third!.atMillis - second!.atMillis) / 1000, 8, 1.0001)
      silent.behaviour.up = true
      yield* advance(20_000)
      assert.deepStrictEqual(unanswered.events.map((e) => e.event), ["bound 10.0.2.15/24"])
    }))
})
