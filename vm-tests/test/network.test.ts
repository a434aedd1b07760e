/**
 * Bonds and VLANs on a booted node, made by keel-init over rtnetlink from the machine config: two
 * network cards on one emulated hub bonded active-backup, DHCP from QEMU's server on the bond, a
 * VLAN on the bond with a static address. The host reaches the agent through the bond, and still
 * does after the active card's link is cut (QMP set_link), through the other one.
 *
 * QEMU's user network carries no tagged frames to anything, so the VLAN is checked as the kernel
 * has it (kind, parent, address), not by traffic.
 */
import * as path from "node:path"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { Effect, Exit, Layer, Schedule } from "effect"
import { NodeApi, NodeApiClient } from "@keelos/api"
import { Pki } from "@keelos/pki"
import * as NodeMtlsClient from "@keelos/platform-node/NodeMtlsClient"
import { provisionDisk } from "../../images/src/provision.ts"
import { image, resultsDir } from "../src/Image.ts"
import { accelerator, freePort, rawCopy, Vm } from "../src/Qemu.ts"

const results = resultsDir("network")
let vm: Vm
let port = 0
let ca: Pki.CertifiedKey
let reader: Pki.CertifiedKey

const call = <A, E>(f: (client: NodeApiClient.NodeApiClient["Service"]) => Effect.Effect<A, E>) =>
  Effect.runPromiseExit(
    Effect.scoped(Effect.flatMap(NodeApiClient.NodeApiClient, f)).pipe(
      Effect.provide(NodeApiClient.NodeApiClient.layer(`https://127.0.0.1:${port}/rpc`).pipe(Layer.provide(NodeMtlsClient.layer({ ca: ca.cert, ...reader })))),
      Effect.timeout("20 seconds")
    )
  )

const status = async () => {
  const exit = await Effect.runPromise(
    Effect.tryPromise(() => call((c) => c.GetNetworkStatus()).then((e) => (Exit.isSuccess(e) ? e.value : Promise.reject(e)))).pipe(
      Effect.retry({ schedule: Schedule.spaced("500 millis"), times: 120 })
    )
  )
  return exit
}

beforeAll(async () => {
  const built = image()
  const node = await Effect.runPromise(Effect.gen(function*() {
    ca = yield* Pki.makeCa({ name: "vm-test cluster", days: 30 })
    reader = yield* Pki.issue(ca, { usage: "client", commonName: "rita", organization: "os:reader" }, 30)
    return yield* Pki.issue(ca, { usage: "server", commonName: "node-1", dnsNames: ["localhost"], ipAddresses: ["127.0.0.1", "10.0.2.15"] }, 30)
  }))
  const disk = rawCopy(built.disk, path.join(results, "disk.raw"))
  provisionDisk(disk, {
    pki: { ca: ca.cert, ...node },
    network: {
      bonds: [{ name: "bond0", mode: "active-backup", links: ["eth0", "eth1"] }],
      vlans: [{ name: "bond0.100", link: "bond0", id: 100 }],
      interfaces: [{ name: "bond0", dhcp4: true }, { name: "bond0.100", addresses: ["192.168.100.5/24"] }]
    }
  })
  port = await freePort()
  vm = new Vm({ name: "network", resultsDir: results, disk, boot: { _tag: "Bios" }, nics: 2, forwards: [{ host: port, guest: NodeApi.defaultPort }] })
  await vm.waitFor(/keel-init: network: bond0 bond \(active-backup\) of eth0, eth1/, 120_000)
  await vm.waitFor(/keel-init: network: bond0 10\.0\.2\.15\/24 via 10\.0\.2\.2 from 10\.0\.2\.2/, 120_000)
}, 600_000)

afterAll(() => vm?.kill())

describe(`bonds and VLANs on a booted node (${accelerator()})`, () => {
  it("makes the bond and the VLAN, leases the bond's address, and is reached through it", async () => {
    const network = await status()
    const link = (name: string) => network.links.find((l) => l.name === name)
    expect(link("bond0")).toMatchObject({ kind: "bond", master: null, up: true, mac: "52:54:00:12:34:56" })
    expect(link("bond0")!.addresses[0]).toBe("10.0.2.15/24")
    expect(link("eth0")).toMatchObject({ master: "bond0", up: true })
    expect(link("eth1")).toMatchObject({ master: "bond0", up: true })
    expect(link("bond0.100")).toMatchObject({ kind: "vlan", up: true })
    expect(link("bond0.100")!.addresses.filter((a) => !a.includes(":"))).toEqual(["192.168.100.5/24"])
    expect(network.routes).toContainEqual({ destination: "0.0.0.0/0", gateway: "10.0.2.2", link: "bond0" })
    expect(network.dhcp).toMatchObject([{ link: "bond0", state: "bound", address: "10.0.2.15/24" }])
  })

  it("fails over: with eth0's link cut, the node still answers through eth1", async () => {
    await vm.qmp("set_link", { name: "nic0", up: false })
    const network = await status()
    expect(network.links.find((l) => l.name === "eth0")).toMatchObject({ master: "bond0", operstate: expect.stringMatching(/down|lowerlayerdown/) })
    expect(network.links.find((l) => l.name === "bond0")).toMatchObject({ operstate: "up" })
  })
})
