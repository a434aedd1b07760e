// The node's network while it runs, on simulated links and a scripted DHCP server with TestClock:
// leases at start, changes applied after their answer, tries put back unless confirmed, and what is
// saved to the machine config when.
import { assert, describe, it } from "@effect/vitest"
import { Effect, Fiber, FileSystem, Layer, Path } from "effect"
import { TestClock } from "effect/testing"
import { Kernel } from "@keelos/platform"
import { PowerSupply, SimDhcpSockets, SimFileSystem, SimLinks, Trace } from "@keelos/platform-sim"
import { NetworkConfig, NetworkManager } from "../src/index.ts"
import * as ScriptedServer from "./ScriptedServer.ts"

const dhcpConfig: NetworkConfig.NetworkConfig = { interfaces: [{ name: "eth0", dhcp4: true }], nameservers: ["9.9.9.9"] }
const file = "/var/lib/keel/config/network.json"

const harness = (dhcp: ReturnType<typeof SimDhcpSockets.make>["layer"]) => {
  const trace = new Trace()
  const links = SimLinks.make(["lo", "eth0"])
  links.links.get("eth0")!.up = true
  const hostnames: Array<string> = []
  const lines: Array<string> = []
  const layer = Layer.mergeAll(
    links.layer,
    dhcp,
    Layer.succeed(Kernel.Kernel)({ cmdline: Effect.succeed([]), loadModule: () => Effect.void, setHostname: (name) => Effect.sync(() => void hostnames.push(name)), prefetch: () => Effect.void }),
    new SimFileSystem(new PowerSupply(trace), trace).layer(),
    Path.layer
  )
  const manager = (initial: NetworkConfig.NetworkConfig | undefined, hostnameConfigured = false) =>
    NetworkManager.make({ initial, hostnameConfigured, file, log: (line) => Effect.sync(() => void lines.push(line)) })
  return { links, hostnames, lines, layer, manager }
}

const readFile = (path: string) => Effect.flatMap(FileSystem.FileSystem, (fs) => fs.readFileString(path).pipe(Effect.orElseSucceed(() => "absent")))

describe("NetworkManager", () => {
  it.effect("starts the DHCP clients: the lease is installed, servers after the static ones, host name from the lease; released when the scope closes", () =>
    Effect.gen(function*() {
      const server = ScriptedServer.make({ hostname: "from-dhcp" })
      const h = harness(server.layer)
      const resolv = yield* Effect.scoped(Effect.gen(function*() {
        const network = yield* h.manager(dhcpConfig)
        yield* network.start(10_000)
        assert.deepStrictEqual(h.links.links.get("eth0")!.addresses, ["10.0.2.15/24"])
        assert.strictEqual(h.links.links.get("eth0")!.mtu, 1400)
        assert.deepStrictEqual(h.links.routes, [{ destination: "0.0.0.0/0", gateway: "10.0.2.2", link: "eth0", protocol: "dhcp", metric: 1024 }])
        return yield* readFile("/run/keel/resolv.conf")
      })).pipe(Effect.provide(h.layer))
      assert.strictEqual(resolv, "# Written by keel-init from the machine config and DHCP leases.\nnameserver 9.9.9.9\nnameserver 10.0.2.3\nnameserver 1.1.1.1\nsearch example.test\n")
      assert.deepStrictEqual(h.hostnames, ["from-dhcp"])
      assert.strictEqual(server.seen.at(-1)!.type, "RELEASE")
      assert.deepStrictEqual(h.links.links.get("eth0")!.addresses, [])
      assert.deepStrictEqual(h.links.routes, [])
    }))

  it.effect("a host name in the machine config wins over the lease's", () =>
    Effect.gen(function*() {
      const h = harness(ScriptedServer.make({ hostname: "from-dhcp" }).layer)
      yield* Effect.scoped(Effect.flatMap(h.manager(dhcpConfig, true), (network) => network.start(10_000))).pipe(Effect.provide(h.layer))
      assert.deepStrictEqual(h.hostnames, [])
    }))

  it.effect("with no server on the link, start returns after the wait while the client keeps asking", () =>
    Effect.gen(function*() {
      const silent = SimDhcpSockets.make()
      const h = harness(silent.layer)
      yield* Effect.scoped(Effect.gen(function*() {
        const network = yield* h.manager(dhcpConfig)
        const started = yield* Effect.forkChild(network.start(10_000))
        yield* TestClock.adjust(9_000)
        assert.isUndefined(started.pollUnsafe())
        yield* TestClock.adjust(1_000)
        yield* Fiber.join(started)
        const before = silent.sent.length
        yield* TestClock.adjust(120_000)
        assert.isAbove(silent.sent.length, before)
        assert.isTrue(silent.sent.every((s) => s.link === "eth0" && s.to === "255.255.255.255"))
      })).pipe(Effect.provide(h.layer))
      assert.include(h.lines.join("\n"), "eth0: no DHCP lease within 10 s")
    }))

  it.effect("apply: planned at once, on the links a second later, saved", () =>
    Effect.gen(function*() {
      const server = ScriptedServer.make()
      const h = harness(server.layer)
      yield* Effect.scoped(Effect.gen(function*() {
        const network = yield* h.manager(dhcpConfig)
        yield* network.start(10_000)
        const next = { interfaces: [{ name: "eth0", dhcp4: true, addresses: ["10.0.2.99/24"] }], nameservers: ["9.9.9.9"] }
        const planned = yield* network.apply(next, { _tag: "apply" })
        assert.deepStrictEqual(planned, { changes: ["eth0: add 10.0.2.99/24"], revertAtMillis: null })
        assert.deepStrictEqual(JSON.parse(yield* readFile(file)), next)
        assert.deepStrictEqual(h.links.links.get("eth0")!.addresses, ["10.0.2.15/24"])
        yield* TestClock.adjust(1_000)
        assert.deepStrictEqual(h.links.links.get("eth0")!.addresses, ["10.0.2.15/24", "10.0.2.99/24"])
        assert.deepStrictEqual((yield* network.current).config, next)
        // The DHCP client went on untouched: one lease, never released.
        assert.isFalse(server.seen.some((s) => s.type === "RELEASE"))
      })).pipe(Effect.provide(h.layer))
    }))

  it.effect("try, unconfirmed: the links change, then the previous configuration is put back (DHCP again); nothing is saved", () =>
    Effect.gen(function*() {
      const server = ScriptedServer.make()
      const h = harness(server.layer)
      yield* Effect.scoped(Effect.gen(function*() {
        const network = yield* h.manager(dhcpConfig)
        yield* network.start(10_000)
        const broken = { interfaces: [{ name: "eth0", addresses: ["192.168.77.5/24"] }] }
        const planned = yield* network.apply(broken, { _tag: "try", timeoutMillis: 30_000 })
        assert.deepStrictEqual(planned, { changes: ["eth0: add 192.168.77.5/24", "eth0: stop DHCP", "nameservers: 9.9.9.9 -> none"], revertAtMillis: 31_000 })
        const refused = yield* Effect.flip(network.apply(dhcpConfig, { _tag: "try", timeoutMillis: 30_000 }))
        assert.include(refused.message, "on trial already")
        yield* TestClock.adjust(1_000)
        assert.deepStrictEqual(h.links.links.get("eth0")!.addresses, ["192.168.77.5/24"])
        assert.strictEqual(server.seen.at(-1)!.type, "RELEASE")
        assert.deepStrictEqual((yield* network.current).revertAtMillis, 31_000)
        yield* TestClock.adjust(30_000)
        assert.deepStrictEqual(h.links.links.get("eth0")!.addresses, ["10.0.2.15/24"])
        assert.deepStrictEqual((yield* network.current), { config: dhcpConfig, revertAtMillis: null })
        assert.strictEqual(yield* readFile(file), "absent")
        const nothing = yield* Effect.flip(network.confirm)
        assert.include(nothing.message, "no network configuration is on trial")
      })).pipe(Effect.provide(h.layer))
      assert.include(h.lines.join("\n"), "was not confirmed in time")
    }))

  it.effect("try, confirmed once on the links: saved, and never put back", () =>
    Effect.gen(function*() {
      const h = harness(ScriptedServer.make().layer)
      yield* Effect.scoped(Effect.gen(function*() {
        const network = yield* h.manager(dhcpConfig)
        yield* network.start(10_000)
        const next = { interfaces: [{ name: "eth0", dhcp4: true, addresses: ["10.0.2.99/24"], mtu: 9000 }], nameservers: ["9.9.9.9"] }
        yield* network.apply(next, { _tag: "try", timeoutMillis: 30_000 })
        const early = yield* Effect.flip(network.confirm)
        assert.include(early.message, "not on the links yet")
        yield* TestClock.adjust(1_000)
        yield* network.confirm
        assert.deepStrictEqual(JSON.parse(yield* readFile(file)), next)
        yield* TestClock.adjust(60_000)
        assert.deepStrictEqual(h.links.links.get("eth0")!.addresses, ["10.0.2.15/24", "10.0.2.99/24"])
        assert.strictEqual(h.links.links.get("eth0")!.mtu, 9000)
        assert.deepStrictEqual((yield* network.current).revertAtMillis, null)
      })).pipe(Effect.provide(h.layer))
    }))

  it.effect("bonds and VLANs: made with their ports down while enslaved, configured like links, and deleted when the configuration drops them", () =>
    Effect.gen(function*() {
      const h = harness(SimDhcpSockets.make().layer)
      h.links.links.set("eth1", { up: true, addresses: [] })
      yield* Effect.scoped(Effect.gen(function*() {
        const network = yield* h.manager({ interfaces: [] })
        const bonded: NetworkConfig.NetworkConfig = {
          bonds: [{ name: "bond0", mode: "active-backup", links: ["eth0", "eth1"] }],
          vlans: [{ name: "bond0.100", link: "bond0", id: 100 }],
          interfaces: [{ name: "bond0", addresses: ["10.9.0.5/24"] }, { name: "bond0.100", addresses: ["192.168.100.5/24"] }]
        }
        const planned = yield* network.apply(bonded, { _tag: "apply" })
        assert.deepStrictEqual(planned.changes, [
          "bond0: add 10.9.0.5/24",
          "bond0.100: add 192.168.100.5/24",
          "bond0.100: VLAN 100 on bond0",
          "bond0: bond (active-backup) of eth0, eth1"
        ])
        yield* TestClock.adjust(1_000)
        const link = (name: string) => h.links.links.get(name)
        assert.deepStrictEqual([link("bond0")?.kind, link("bond0")?.up, link("bond0")?.addresses], ["bond", true, ["10.9.0.5/24"]])
        assert.deepStrictEqual([link("eth0")?.master, link("eth0")?.up, link("eth1")?.master, link("eth1")?.up], ["bond0", true, "bond0", true])
        assert.deepStrictEqual([link("bond0.100")?.kind, link("bond0.100")?.addresses], ["vlan", ["192.168.100.5/24"]])
        yield* network.apply({ interfaces: [{ name: "eth0", addresses: ["10.9.0.6/24"] }] }, { _tag: "apply" })
        yield* TestClock.adjust(1_000)
        assert.isFalse(h.links.links.has("bond0"))
        assert.isFalse(h.links.links.has("bond0.100"))
        assert.deepStrictEqual([link("eth0")?.master, link("eth0")?.addresses], [null, ["10.9.0.6/24"]])
      })).pipe(Effect.provide(h.layer))
    }))

  it.effect("a configuration with a key it does not know is refused with the key, not applied without it", () =>
    Effect.gen(function*() {
      const error = yield* Effect.flip(NetworkConfig.decode(JSON.stringify({ interfaces: [{ name: "eth0", adresses: ["10.0.0.5/24"] }] }), "the network configuration"))
      assert.include(error.message, "adresses")
      const ok = yield* NetworkConfig.decode(JSON.stringify({ interfaces: [{ name: "eth0", addresses: ["10.0.0.5/24"] }] }), "the network configuration")
      assert.deepStrictEqual(ok.interfaces[0]!.addresses, ["10.0.0.5/24"])
    }))

  it.effect("remembers a link's lease on the data partition, and the next boot asks for that address first", () =>
    Effect.gen(function*() {
      const server = ScriptedServer.make()
      const h = harness(server.layer)
      yield* Effect.scoped(Effect.flatMap(h.manager(dhcpConfig), (network) => network.start(10_000))).pipe(Effect.provide(h.layer))
      assert.deepStrictEqual(server.seen.map((s) => s.type), ["DISCOVER", "REQUEST", "RELEASE"])
      const saved = JSON.parse(yield* readFile("/var/lib/keel/network/dhcp-eth0.json").pipe(Effect.provide(h.layer)))
      assert.deepStrictEqual(saved, { address: "10.0.2.15", expiresAtMillis: 3_600_000 })
      // The next boot: INIT-REBOOT for 10.0.2.15, granted without discovery.
      yield* Effect.scoped(Effect.flatMap(h.manager(dhcpConfig), (network) => network.start(10_000))).pipe(Effect.provide(h.layer))
      assert.deepStrictEqual(server.seen.slice(3).map((s) => [s.type, s.requested, s.server]), [["REQUEST", "10.0.2.15", undefined], ["RELEASE", undefined, "10.0.2.2"]])
      // A lease that ran out is not asked for again.
      yield* TestClock.adjust(2 * 3_600_000)
      yield* Effect.scoped(Effect.flatMap(h.manager(dhcpConfig), (network) => network.start(10_000))).pipe(Effect.provide(h.layer))
      assert.strictEqual(server.seen[5]!.type, "DISCOVER")
    }))
})
