// What a lease does to the node, on simulated links: classless routes replace the router, a lease
// that moves takes its old address and routes with it, and the resolver keeps static servers first.
import { assert, describe, it } from "@effect/vitest"
import { Effect, FileSystem, Layer, Path } from "effect"
import { PowerSupply, SimFileSystem, SimLinks, Trace } from "@keelos/platform-sim"
import { type Dhcp4Client, LeaseInstaller, Resolver } from "../src/index.ts"

const lease = (fields: Partial<Dhcp4Client.Lease>): Dhcp4Client.Lease => ({
  link: "eth0",
  address: "10.1.0.20",
  prefix: 24,
  server: "10.1.0.1",
  routers: ["10.1.0.1"],
  routes: [],
  nameservers: ["10.1.0.53"],
  leaseSeconds: 600,
  renewSeconds: 300,
  rebindSeconds: 525,
  sentAtMillis: 0,
  ...fields
})

const harness = () => {
  const trace = new Trace()
  const links = SimLinks.make(["eth0"])
  links.links.get("eth0")!.up = true
  return { links, layer: Layer.mergeAll(links.layer, new SimFileSystem(new PowerSupply(trace), trace).layer(), Path.layer) }
}

describe("LeaseInstaller", () => {
  it.effect("installs classless static routes instead of the router, skipping on-link ones (RFC 3442)", () =>
    Effect.gen(function*() {
      const h = harness()
      yield* Effect.gen(function*() {
        const resolver = yield* Resolver.make("/run/keel/resolv.conf")
        const installer = yield* LeaseInstaller.make({ resolver, log: () => Effect.void, statusDir: "/run/keel/dhcp" })
        yield* installer.bound(lease({
          routes: [{ destination: "0.0.0.0/0", gateway: "10.1.0.254" }, { destination: "172.16.0.0/12", gateway: "10.1.0.9" }, { destination: "10.2.0.0/16", gateway: "0.0.0.0" }]
        }), undefined)
      }).pipe(Effect.provide(h.layer))
      assert.deepStrictEqual(h.links.routes.map((r) => `${r.destination} via ${r.gateway} ${r.protocol} ${r.metric}`), [
        "0.0.0.0/0 via 10.1.0.254 dhcp 1024",
        "172.16.0.0/12 via 10.1.0.9 dhcp 1024"
      ])
    }))

  it.effect("a renewal that moves the address removes the old one and its route; losing the lease removes the rest", () =>
    Effect.gen(function*() {
      const h = harness()
      const status = yield* Effect.gen(function*() {
        const resolver = yield* Resolver.make("/run/keel/resolv.conf", new Map([["static", { nameservers: ["9.9.9.9"], search: [] }]]))
        const installer = yield* LeaseInstaller.make({ resolver, log: () => Effect.void, statusDir: "/run/keel/dhcp" })
        const first = lease({})
        const moved = lease({ address: "10.3.0.7", routers: ["10.3.0.1"], nameservers: ["10.3.0.53", "9.9.9.9"] })
        yield* installer.bound(first, undefined)
        yield* installer.bound(moved, first)
        assert.deepStrictEqual(h.links.links.get("eth0")!.addresses, ["10.3.0.7/24"])
        assert.deepStrictEqual(h.links.routes.map((r) => r.gateway), ["10.3.0.1"])
        const fs = yield* FileSystem.FileSystem
        assert.strictEqual(yield* fs.readFileString("/run/keel/resolv.conf"), "# Written by keel-init from the machine config and DHCP leases.\nnameserver 9.9.9.9\nnameserver 10.3.0.53\n")
        yield* installer.lost(moved, "expired")
        assert.strictEqual(yield* fs.readFileString("/run/keel/resolv.conf"), "# Written by keel-init from the machine config and DHCP leases.\nnameserver 9.9.9.9\n")
        return JSON.parse(yield* fs.readFileString("/run/keel/dhcp/eth0.json"))
      }).pipe(Effect.provide(h.layer))
      assert.deepStrictEqual(h.links.links.get("eth0")!.addresses, [])
      assert.deepStrictEqual(h.links.routes, [])
      assert.deepStrictEqual([status.state, status.address], ["expired", "10.3.0.7/24"])
    }))
})

describe("Resolver.render", () => {
  it("puts static servers first, drops duplicates, keeps at most three, and joins search domains", () => {
    const entries = new Map([
      ["dhcp:eth1", { nameservers: ["10.9.0.1", "10.9.0.2"], search: ["b.test"] }],
      ["static", { nameservers: ["9.9.9.9", "10.9.0.1"], search: [] }],
      ["dhcp:eth0", { nameservers: ["10.8.0.1"], search: ["a.test"] }]
    ])
    assert.strictEqual(Resolver.render(entries), "# Written by keel-init from the machine config and DHCP leases.\nnameserver 9.9.9.9\nnameserver 10.9.0.1\nnameserver 10.8.0.1\nsearch a.test b.test\n")
  })
})
