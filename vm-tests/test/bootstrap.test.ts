/**
 * Provisioning and first trust on a node booted through UEFI, the way an operator does it: osctl
 * writes a NoCloud seed (a one-time token and a static network) attached as a second disk; keel-init
 * finds it by its CIDATA label and applies it on the first boot; osctl bootstraps the node through
 * QEMU's forwarded port; keel-agent restarts under keel-init into mutual TLS, and the node answers
 * with the certificate osctl issued for its key. Then osctl changes the node's network live: from
 * the seed's static address to QEMU's DHCP server, confirmed over the new network; and to an address
 * nothing can reach, which the node puts back by itself when no confirmation comes.
 */
import { spawnSync } from "node:child_process"
import * as fs from "node:fs"
import * as path from "node:path"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { NodeApi } from "@keelos/api"
import { image, resultsDir, root } from "../src/Image.ts"
import { accelerator, freePort, overlay, Vm } from "../src/Qemu.ts"

const results = resultsDir("bootstrap")
const osctlMain = path.join(root, "apps", "cli", "src", "main.ts")
const token = "89abcdef0123456789abcdef0123456789abcdef0123456789abcdef01234567"
let vm: Vm
let port = 0

const osctl = (...args: Array<string>) =>
  spawnSync(process.execPath, [osctlMain, ...args], { encoding: "utf8", timeout: 120_000, env: { ...process.env, OSCTLCONFIG: path.join(results, "osctl.json") } })

beforeAll(async () => {
  const built = image()
  fs.rmSync(path.join(results, "pki"), { recursive: true, force: true })
  fs.rmSync(path.join(results, "osctl.json"), { force: true })
  const disk = overlay(built.disk, path.join(results, "disk.qcow2"))
  fs.writeFileSync(path.join(results, "seed.yaml"), [
    "meta-data:", "  instance-id: vm-node-1", "  local-hostname: vm-node",
    "network-config:", "  version: 2", "  ethernets:", "    eth0:", "      addresses: [10.0.2.15/24]", "      gateway4: 10.0.2.2",
    "user-data:", "  keelos:", `    bootstrap_token: ${token}`
  ].join("\n"))
  const seed = osctl("image", "provision", "--config", path.join(results, "seed.yaml"), "--out", path.join(results, "seed.img"))
  expect(seed.status).toBe(0)
  port = await freePort()
  // Through UEFI (OVMF) and GRUB: the agent suite boots through SeaBIOS, so both firmware paths reach the agent.
  vm = new Vm({ name: "bootstrap", resultsDir: results, disk, boot: { _tag: "Uefi" }, extraDisks: [path.join(results, "seed.img")], forwards: [{ host: port, guest: NodeApi.defaultPort }] })
  await vm.waitFor(/keel-init: seed: applied instance vm-node-1 from \/dev\/vdb \(vfat\): bootstrap token, 1 interface\(s\), hostname vm-node/, 120_000)
  await vm.waitFor(/keel-init: supervising/, 120_000)
  for (const args of [["gen", "ca", "--out", path.join(results, "pki")], ["gen", "cert", "--role", "os:admin", "--name", "alice", "--ca-dir", path.join(results, "pki"), "--out", path.join(results, "pki")]]) {
    expect(osctl(...args).status).toBe(0)
  }
}, 600_000)

afterAll(() => vm?.kill())

describe(`first trust on a booted node (${accelerator()})`, () => {
  it("bootstraps the node with its token, then reaches it over mutual TLS", async () => {
    const pki = path.join(results, "pki")
    let result = osctl("bootstrap", "--node", `127.0.0.1:${port}`, "--token", token, "--ca-dir", pki, "--name", "vm-node", "--ip", "127.0.0.1,10.0.2.15")
    // The agent may still be starting (QEMU accepts the forwarded connection and drops it): try again
    // while the failure is about the connection, not an answer from the node.
    const answered = (stderr: string) => /proof|bootstrap refused|bootstrapped already|certificate than/.test(stderr)
    for (let i = 0; i < 90 && result.status !== 0 && !answered(result.stderr); i++) {
      await new Promise((r) => setTimeout(r, 1000))
      result = osctl("bootstrap", "--node", `127.0.0.1:${port}`, "--token", token, "--ca-dir", pki, "--name", "vm-node", "--ip", "127.0.0.1,10.0.2.15")
    }
    expect(result.stderr).toBe("")
    expect(result.stdout).toContain("bootstrapped")
    expect(osctl("config", "add", "vm", "-n", `127.0.0.1:${port}`, "--ca", path.join(pki, "ca.crt"), "--cert", path.join(pki, "alice.crt"), "--key", path.join(pki, "alice.key")).status).toBe(0)
    let status = osctl("status", "-o", "json")
    for (let i = 0; i < 60 && status.status !== 0; i++) {
      await new Promise((r) => setTimeout(r, 1000))
      status = osctl("status", "-o", "json")
    }
    const [outcome] = JSON.parse(status.stdout) as Array<{ result: { hostname: string; certificate: { commonName: string }; services: Array<{ name: string; restarts: number; state: string }> } }>
    expect(outcome!.result.certificate.commonName).toBe("vm-node")
    expect(outcome!.result.hostname).toBe("vm-node")
    // The agent restarted once under init, from bootstrap into the node API.
    expect(outcome!.result.services.find((s) => s.name === "keel-agent")).toMatchObject({ state: "running" })
    const again = osctl("bootstrap", "--node", `127.0.0.1:${port}`, "--token", token, "--ca-dir", pki)
    expect(again.stderr).toContain("bootstrapped already")
  })

  it("changes the network live: a try confirmed over the new network is kept and saved", () => {
    const file = path.join(results, "dhcp.yaml")
    fs.writeFileSync(file, "interfaces:\n  - name: eth0\n    dhcp4: true\n")
    const applied = osctl("network", "apply", file, "--mode", "try", "--timeout", "60")
    expect([applied.status, applied.stderr]).toEqual([0, ""])
    expect(applied.stdout).toBe("eth0: remove 10.0.2.15/24\neth0: gateway 10.0.2.2 -> none\neth0: start DHCP\nconfirmed over the new network and saved\n")
    const config = JSON.parse(osctl("network", "config", "-o", "json").stdout) as Array<{ result: unknown }>
    expect(config[0]!.result).toEqual({ interfaces: [{ name: "eth0", dhcp4: true }] })
    const status = JSON.parse(osctl("network", "status", "-o", "json").stdout) as Array<{ result: { dhcp: Array<{ state: string; address: string }>; links: Array<{ name: string; addresses: Array<string> }> } }>
    expect(status[0]!.result.dhcp).toMatchObject([{ link: "eth0", state: "bound", address: "10.0.2.15/24", server: "10.0.2.2" }])
    expect(status[0]!.result.links.find((l) => l.name === "eth0")!.addresses.filter((a) => !a.includes(":"))).toEqual(["10.0.2.15/24"])
  })

  it("changes the network live: a try that cuts the node off is put back by the node when no confirmation comes", async () => {
    const file = path.join(results, "unreachable.yaml")
    fs.writeFileSync(file, "interfaces:\n  - name: eth0\n    addresses: [192.168.77.5/24]\n")
    const tried = osctl("network", "apply", file, "--mode", "try", "--timeout", "10")
    expect(tried.status).not.toBe(0)
    expect(tried.stderr).toMatch(/did not confirm its new network within 10 s; it puts the previous configuration back at \d{4}-\d\d-\d\dT\d\d:\d\dZ/)
    await vm.waitFor(/not confirmed in time; putting the previous one back/, 60_000)
    let status = osctl("network", "status", "-o", "json")
    for (let i = 0; i < 30 && status.status !== 0; i++) {
      await new Promise((r) => setTimeout(r, 1000))
      status = osctl("network", "status", "-o", "json")
    }
    const [outcome] = JSON.parse(status.stdout) as Array<{ result: { links: Array<{ name: string; addresses: Array<string> }> } }>
    expect(outcome!.result.links.find((l) => l.name === "eth0")!.addresses.filter((a) => !a.includes(":"))).toEqual(["10.0.2.15/24"])
    const config = JSON.parse(osctl("network", "config", "-o", "json").stdout) as Array<{ result: unknown }>
    expect(config[0]!.result).toEqual({ interfaces: [{ name: "eth0", dhcp4: true }] })
  })
})
