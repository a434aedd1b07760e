/**
 * The node API on a booted node: the image boots through SeaBIOS and GRUB, keel-init leases the
 * node's address from QEMU's DHCP server (the network config on the provisioned data partition
 * says DHCP) and its host name from a NoCloud seed on an ISO 9660 volume as cloud-localds makes it,
 * supervises keel-agent, and the host reaches
 * the agent over mutual TLS through QEMU's forwarded port: status from the real boot environment,
 * roles enforced, the agent's own logs through init, and a reboot asked through the API ending in
 * init's orderly shutdown.
 */
import { execFileSync, spawnSync } from "node:child_process"
import * as fs from "node:fs"
import * as path from "node:path"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { Effect, Exit, Layer, Schedule, Stream } from "effect"
import { NodeApi, NodeApiClient } from "@keelos/api"
import { Pki } from "@keelos/pki"
import * as NodeMtlsClient from "@keelos/platform-node/NodeMtlsClient"
import { provisionDisk, qemuUserDhcp } from "../../images/src/provision.ts"
import { image, resultsDir } from "../src/Image.ts"
import { accelerator, freePort, rawCopy, Vm } from "../src/Qemu.ts"

const results = resultsDir("agent")

interface Credentials {
  readonly ca: Pki.CertifiedKey
  readonly admin: Pki.CertifiedKey
  readonly reader: Pki.CertifiedKey
}

let vm: Vm
let port = 0
let metricsPort = 0
let pki: Credentials

const call = <A, E>(credentials: Pki.CertifiedKey, f: (client: NodeApiClient.NodeApiClient["Service"]) => Effect.Effect<A, E>) =>
  Effect.runPromiseExit(
    Effect.scoped(Effect.flatMap(NodeApiClient.NodeApiClient, f)).pipe(
      Effect.provide(NodeApiClient.NodeApiClient.layer(`https://127.0.0.1:${port}/rpc`).pipe(
        Layer.provide(NodeMtlsClient.layer({ ca: pki.ca.cert, ...credentials }))
      )),
      Effect.timeout("20 seconds")
    )
  )

beforeAll(async () => {
  const built = image()
  pki = await Effect.runPromise(Effect.gen(function*() {
    const ca = yield* Pki.makeCa({ name: "vm-test cluster", days: 30 })
    return {
      ca,
      admin: yield* Pki.issue(ca, { usage: "client", commonName: "alice", organization: "os:admin" }, 30),
      reader: yield* Pki.issue(ca, { usage: "client", commonName: "rita", organization: "os:reader" }, 30),
      node: yield* Pki.issue(ca, { usage: "server", commonName: "node-1", dnsNames: ["localhost"], ipAddresses: ["127.0.0.1", "10.0.2.15"] }, 30)
    }
  })).then((p) => {
    const disk = rawCopy(built.disk, path.join(results, "disk.raw"))
    provisionDisk(disk, { pki: { ca: p.ca.cert, ...p.node }, network: qemuUserDhcp })
    return p
  })
  // The seed: an ISO labelled cidata (lower case), as `cloud-localds` writes it with genisoimage.
  const seedDir = path.join(results, "seed")
  fs.rmSync(seedDir, { recursive: true, force: true })
  fs.mkdirSync(seedDir, { recursive: true })
  fs.writeFileSync(path.join(seedDir, "meta-data"), "instance-id: agent-vm\nlocal-hostname: iso-node\n")
  execFileSync("genisoimage", ["-quiet", "-output", path.join(results, "seed.iso"), "-volid", "cidata", "-joliet", "-rock", seedDir])
  port = await freePort()
  metricsPort = await freePort()
  vm = new Vm({
    name: "agent",
    resultsDir: results,
    disk: path.join(results, "disk.raw"),
    extraDisks: [path.join(results, "seed.iso")],
    boot: { _tag: "Bios" },
    forwards: [{ host: port, guest: NodeApi.defaultPort }, { host: metricsPort, guest: 9100 }]
  })
  await vm.waitFor(/keel-init: seed: applied instance agent-vm from \/dev\/vdb \(iso9660\): no credentials, 0 interface\(s\), hostname iso-node/, 120_000)
  await vm.waitFor(/keel-init: network: eth0 10\.0\.2\.15\/24 via 10\.0\.2\.2 from 10\.0\.2\.2 for 86400 s/, 120_000)
  await vm.waitFor(/keel-init: supervising/, 60_000)
  // The agent answers once it has started: poll through the forwarded port.
  await Effect.runPromise(
    Effect.tryPromise(() => call(pki.reader, (c) => c.WhoAmI()).then((exit) => (Exit.isSuccess(exit) ? exit.value : Promise.reject(exit)))).pipe(
      Effect.retry({ schedule: Schedule.spaced("500 millis"), times: 180 })
    )
  )
}, 600_000)

afterAll(() => vm?.kill())

describe(`the node API on a booted node (${accelerator()})`, () => {
  it("reports status from the node's real boot environment, init and certificate", async () => {
    const exit = await call(pki.admin, (c) => c.GetStatus())
    if (!Exit.isSuccess(exit)) throw new Error(String(exit.cause))
    const status = exit.value
    expect(status.bootEnv.active).toBe("A")
    expect(status.bootedSlot).toBe("A")
    expect(status.hostname).toBe("iso-node")
    expect(status.certificate.commonName).toBe("node-1")
    // The image trusts the key this build signs releases with, marked when it is the development key.
    expect(status.updateKeys).toEqual([{ id: expect.stringMatching(/^[0-9a-f]{16}$/), development: process.env["KEELOS_SIGNING_KEY"] === undefined }])
    expect(status.caller).toMatchObject({ commonName: "alice", role: "os:admin" })
    expect(status.services.find((s) => s.name === "keel-agent")).toMatchObject({ state: "running", restarts: 0 })
    // containerd from Debian runs under init (after the agent) and answers on its socket (its readiness check).
    let containerd = status.services.find((s) => s.name === "containerd")
    for (let i = 0; i < 120 && containerd?.health !== "healthy"; i++) {
      await new Promise((r) => setTimeout(r, 500))
      const again = await call(pki.reader, (c) => c.ListServices())
      containerd = Exit.isSuccess(again) ? again.value.find((s) => s.name === "containerd") : containerd
    }
    expect(containerd).toMatchObject({ state: "running", health: "healthy", restarts: 0 })
    // No kubelet in this image: once containerd is ready, the optional service is absent, not failing.
    let kubelet: { readonly state: string } | undefined
    for (let i = 0; i < 40 && kubelet?.state !== "absent"; i++) {
      const again = await call(pki.reader, (c) => c.ListServices())
      kubelet = Exit.isSuccess(again) ? again.value.find((s) => s.name === "kubelet") : undefined
      if (kubelet?.state !== "absent") await new Promise((r) => setTimeout(r, 250))
    }
    expect(kubelet).toMatchObject({ state: "absent" })
  })

  it("reports the node's network from its kernel, its DHCP lease and its machine config", async () => {
    const status = await call(pki.reader, (c) => c.GetNetworkStatus())
    if (!Exit.isSuccess(status)) throw new Error(String(status.cause))
    // IPv4 from the lease; IPv6 by SLAAC from QEMU's router advertisements (fec0::/64), the kernel's default.
    const eth0 = status.value.links.find((l) => l.name === "eth0")!
    expect(eth0).toMatchObject({ up: true, mac: "52:54:00:12:34:56" })
    expect(eth0.addresses[0]).toBe("10.0.2.15/24")
    expect(eth0.addresses.filter((a) => !a.includes(":"))).toEqual(["10.0.2.15/24"])
    expect(eth0.addresses).toContain("fe80::5054:ff:fe12:3456/64")
    expect(eth0.addresses).toContain("fec0::5054:ff:fe12:3456/64")
    expect(status.value.routes).toContainEqual({ destination: "0.0.0.0/0", gateway: "10.0.2.2", link: "eth0" })
    expect(status.value.routes.some((r) => r.destination === "::/0" && r.gateway?.startsWith("fe80:") === true && r.link === "eth0")).toBe(true)
    // /etc/resolv.conf (read-only root) points at the file keel-init wrote on tmpfs, from the lease.
    expect(status.value.nameservers).toEqual(["10.0.2.3"])
    expect(status.value.dhcp).toMatchObject([{ link: "eth0", state: "bound", address: "10.0.2.15/24", server: "10.0.2.2", routers: ["10.0.2.2"], leaseSeconds: 86400 }])
    const config = await call(pki.reader, (c) => c.GetNetworkConfig())
    expect(config).toMatchObject({ _tag: "Success", value: { interfaces: [{ name: "eth0", dhcp4: true }] } })
  })

  it("enforces roles from the client certificate", async () => {
    const denied = await call(pki.reader, (c) => c.Reboot({ reason: "not allowed" }))
    expect(Exit.isFailure(denied) && String(denied.cause)).toContain("Unauthorized")
    const audit = await call(pki.admin, (c) => c.GetAuditLog({ tail: 100 }))
    expect(Exit.isSuccess(audit) && audit.value.find((e) => e.commonName === "rita" && e.operation === "Reboot")?.result).toMatch(/^denied: /)
  })

  it("streams the agent's own output, captured by init, with no warnings in it", async () => {
    const exit = await call(pki.reader, (c) => Stream.runCollect(c.StreamLogs({ service: "keel-agent", tail: 20, follow: false })))
    const lines = Exit.isSuccess(exit) ? exit.value.map((l) => l.line) : []
    const serving = lines.find((l) => l.includes("serving the node API"))
    const started = /^keel-agent 0\.1\.0 serving the node API on 0\.0\.0\.0:50051; started in ([\d.]+) s: Node ([\d.]+) s, modules ([\d.]+) s, setup ([\d.]+) s$/.exec(serving ?? "")
    expect(started, serving).not.toBeNull()
    // The parts add up to the whole (each rounded to 10 ms).
    const [total, node, modules, setup] = started!.slice(1).map(Number)
    expect(Math.abs(node! + modules! + setup! - total!)).toBeLessThan(0.025)
    expect(node!).toBeGreaterThan(0)
    expect(lines.filter((l) => /WARN|ERROR/.test(l))).toEqual([])
  })

  it("serves metrics promtool accepts, with the boot count from the data partition", async () => {
    const text = await (await fetch(`http://127.0.0.1:${metricsPort}/metrics`)).text()
    const check = spawnSync("promtool", ["check", "metrics"], { input: text, encoding: "utf8" })
    expect([check.status, check.stdout + check.stderr]).toEqual([0, ""])
    const lines = text.split("\n")
    expect(lines).toContain("keelos_boots_total 1")
    expect(lines).toContain("keelos_os_info{version=\"0.1.0\",slot=\"A\"} 1")
    expect(lines).toContain("keelos_service_state{service=\"keel-agent\",state=\"running\"} 1")
  })

  it("restarts a service killed inside the guest", async () => {
    const containerd = async () => {
      const exit = await call(pki.reader, (c) => c.ListServices())
      return Exit.isSuccess(exit) ? exit.value.find((s) => s.name === "containerd") : undefined
    }
    const before = await containerd()
    expect(await call(pki.admin, (c) => c.SignalService({ service: "containerd", signal: "SIGKILL" }))).toMatchObject({ _tag: "Success", value: { delivered: true } })
    let after = await containerd()
    for (let i = 0; i < 120 && !(after?.restarts === before!.restarts + 1 && after?.state === "running" && after?.health === "healthy"); i++) {
      await new Promise((r) => setTimeout(r, 500))
      after = await containerd()
    }
    expect(after).toMatchObject({ state: "running", health: "healthy", restarts: before!.restarts + 1, lastExit: { reason: "killed by SIGKILL" } })
    expect(after!.pid).not.toBe(before!.pid)
  })

  it("reboots in order when an operator asks, with the reason on the console", async () => {
    const exit = await call(pki.admin, (c) => c.Reboot({ reason: "vm test" }))
    expect(exit).toMatchObject({ _tag: "Success", value: { accepted: true } })
    await vm.waitFor(/vm test \(asked by alice\)/, 60_000)
    // -no-reboot: QEMU exits when the guest reboots.
    expect(await vm.exited).toBe(0)
  })
})
