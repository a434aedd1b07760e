// keel-init's DHCP links: the lease lands on the link, the route and resolver follow it, the host
// name comes from the lease only when the machine config names none, and a link nobody answers on
// holds the boot up for the wait and no longer.
import { assert, describe, it } from "@effect/vitest"
import { Effect, Fiber, FileSystem, Layer, Path } from "effect"
import { TestClock } from "effect/testing"
import { Kernel } from "@keelos/platform"
import { PowerSupply, SimDhcpSockets, SimFileSystem, SimLinks, Trace } from "@keelos/platform-sim"
import * as ScriptedServer from "@keelos/network/testing"
import { DhcpNetwork } from "../src/index.ts"

const config = { interfaces: [{ name: "eth0", dhcp4: true }], nameservers: ["9.9.9.9"] }

const harness = (dhcp: ReturnType<typeof SimDhcpSockets.make>["layer"]) => {
  const trace = new Trace()
  const links = SimLinks.make(["lo", "eth0"])
  links.links.get("eth0")!.up = true
  const hostnames: Array<string> = []
  const layer = Layer.mergeAll(
    links.layer,
    dhcp,
    Layer.succeed(Kernel.Kernel)({ cmdline: Effect.succeed([]), loadModule: () => Effect.void, setHostname: (name) => Effect.sync(() => void hostnames.push(name)) }),
    new SimFileSystem(new PowerSupply(trace), trace).layer(),
    Path.layer
  )
  return { links, hostnames, layer }
}

describe("DhcpNetwork", () => {
  it.effect("installs the lease: address, default route behind static ones, servers after the static ones, host name", () =>
    Effect.gen(function*() {
      const server = ScriptedServer.make({ hostname: "from-dhcp" })
      const h = harness(server.layer)
      const resolv = yield* Effect.scoped(Effect.gen(function*() {
        yield* DhcpNetwork.start({ config, hostnameConfigured: false, waitMillis: 10_000 })
        return yield* Effect.flatMap(FileSystem.FileSystem, (fs) => fs.readFileString("/run/keel/resolv.conf"))
      })).pipe(Effect.provide(h.layer))
      assert.strictEqual(resolv, "# Written by keel-init from the machine config and DHCP leases.\nnameserver 9.9.9.9\nnameserver 10.0.2.3\nnameserver 1.1.1.1\nsearch example.test\n")
      assert.deepStrictEqual(h.hostnames, ["from-dhcp"])
      // The scope closed: the lease was released and its address and route taken away.
      assert.strictEqual(server.seen.at(-1)!.type, "RELEASE")
      assert.deepStrictEqual(h.links.links.get("eth0")!.addresses, [])
      assert.deepStrictEqual(h.links.routes, [])
    }))

  it.effect("while it runs, the link has the leased address, route and MTU; a configured host name wins", () =>
    Effect.gen(function*() {
      const server = ScriptedServer.make({ hostname: "from-dhcp" })
      const h = harness(server.layer)
      yield* Effect.scoped(Effect.gen(function*() {
        yield* DhcpNetwork.start({ config, hostnameConfigured: true, waitMillis: 10_000 })
        assert.deepStrictEqual(h.links.links.get("eth0")!.addresses, ["10.0.2.15/24"])
        assert.strictEqual(h.links.links.get("eth0")!.mtu, 1400)
        assert.deepStrictEqual(h.links.routes, [{ destination: "0.0.0.0/0", gateway: "10.0.2.2", link: "eth0", protocol: "dhcp", metric: 1024 }])
      })).pipe(Effect.provide(h.layer))
      assert.deepStrictEqual(h.hostnames, [])
    }))

  it.effect("with no server on the link, boot goes on after the wait while the client keeps asking", () =>
    Effect.gen(function*() {
      const silent = SimDhcpSockets.make()
      const h = harness(silent.layer)
      yield* Effect.scoped(Effect.gen(function*() {
        const started = yield* Effect.forkChild(DhcpNetwork.start({ config, hostnameConfigured: false, waitMillis: 10_000 }))
        yield* TestClock.adjust(9_000)
        assert.isUndefined(started.pollUnsafe())
        yield* TestClock.adjust(1_000)
        yield* Fiber.join(started)
        const before = silent.sent.length
        yield* TestClock.adjust(120_000)
        assert.isAbove(silent.sent.length, before)
        assert.isTrue(silent.sent.every((s) => s.link === "eth0" && s.to === "255.255.255.255"))
      })).pipe(Effect.provide(h.layer))
    }))
})
