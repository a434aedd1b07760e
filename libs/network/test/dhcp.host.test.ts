/**
 * The DHCP client against the real kernel and a real DHCP server: two network namespaces made by
 * the test, joined by a veth pair, Debian's dnsmasq serving one end and our client (rtnetlink, UDP
 * bound to the link) on the other. A lease, its renewals at T1, the server gone (rebind, expiry,
 * address and routes removed by us), the server back, and the release at shutdown.
 *
 * dnsmasq leases for at least two minutes, so the expiry takes that long in real time.
 */
import { type ChildProcess, execFileSync, spawn } from "node:child_process"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import * as readline from "node:readline"
import { afterAll, beforeAll, describe, expect, it } from "vitest"

const id = `${process.pid}`
const server = `keel-dhcp-s-${id}`
const client = `keel-dhcp-c-${id}`
const mac = "52:54:00:4b:45:01"
const dir = fs.mkdtempSync(path.join(os.tmpdir(), "keel-dhcp-"))
const ip = (...args: Array<string>) => execFileSync("ip", args, { encoding: "utf8" })
const inClient = <A>(what: "addr" | "route" | "link"): A => JSON.parse(ip("-n", client, "-j", "-4", what, "show", "dev", "c0")) as A

interface AddrInfo {
  readonly local: string
  readonly prefixlen: number
  readonly broadcast?: string
  readonly valid_life_time: number
}
const addresses = () => inClient<Array<{ addr_info?: Array<AddrInfo> }>>("addr")[0]?.addr_info ?? []
const routes = () =>
  inClient<Array<{ dst: string; gateway?: string; protocol?: string; metric?: number }>>("route")
    .filter((r) => r.gateway !== undefined).map((r) => `${r.dst} via ${r.gateway} proto ${r.protocol} metric ${r.metric ?? 0}`)

let dnsmasq: ChildProcess | undefined
const dnsmasqLog: Array<string> = []
const startServer = () => {
  dnsmasq = spawn("ip", [
    "netns", "exec", server, "dnsmasq", "--keep-in-foreground", "--no-daemon", "--port=0", "--interface=s0", "--bind-interfaces",
    "--dhcp-range=10.77.0.50,10.77.0.59,255.255.255.0,2m", `--dhcp-leasefile=${dir}/leases`, "--log-dhcp",
    "--dhcp-option=option:router,10.77.0.1", "--dhcp-option=option:dns-server,10.77.0.53", "--dhcp-option=option:domain-name,keel.test",
    "--dhcp-option=option:T1,4", "--dhcp-option=option:T2,7", "--dhcp-option=option:mtu,1400"
  ], { stdio: ["ignore", "ignore", "pipe"] })
  readline.createInterface({ input: dnsmasq.stderr! }).on("line", (line) => dnsmasqLog.push(line))
}
const stopServer = () =>
  new Promise<void>((resolve) => {
    if (dnsmasq === undefined || dnsmasq.exitCode !== null) return resolve()
    dnsmasq.once("exit", () => resolve())
    dnsmasq.kill("SIGTERM")
  })

type Event = { readonly event?: string; readonly log?: string; readonly reason?: string; readonly lease?: { readonly address: string; readonly leaseSeconds: number } }
let clientProcess: ChildProcess | undefined
const events: Array<Event & { readonly atMillis: number }> = []
const waiters: Array<() => boolean> = []
const nextEvent = (predicate: (e: Event) => boolean, timeoutMillis: number, from = 0) =>
  new Promise<Event & { readonly atMillis: number }>((resolve, reject) => {
    const check = () => {
      const found = events.slice(from).find(predicate)
      if (found === undefined) return false
      resolve(found)
      return true
    }
    if (check()) return
    const timer = setTimeout(() => reject(new Error(`no such event within ${timeoutMillis} ms; saw ${JSON.stringify(events)}`)), timeoutMillis)
    waiters.push(() => {
      if (!check()) return false
      clearTimeout(timer)
      return true
    })
  })

beforeAll(() => {
  ip("netns", "add", server)
  ip("netns", "add", client)
  ip("link", "add", "c0", "netns", client, "address", mac, "type", "veth", "peer", "name", "s0", "netns", server)
  ip("-n", server, "addr", "add", "10.77.0.1/24", "dev", "s0")
  ip("-n", server, "link", "set", "s0", "up")
  ip("-n", client, "link", "set", "lo", "up")
  ip("-n", client, "link", "set", "c0", "up")
  startServer()
})

afterAll(async () => {
  clientProcess?.kill("SIGKILL")
  await stopServer()
  for (const ns of [client, server]) spawn("ip", ["netns", "del", ns]).unref()
})

describe("the DHCP client on a veth pair, dnsmasq on the other end", () => {
  it("leases, renews at T1, loses the lease when the server is gone, leases again, and releases at shutdown", async () => {
    const resolvConf = path.join(dir, "resolv.conf")
    const statusDir = path.join(dir, "status")
    const fixture = path.join(import.meta.dirname, "fixtures", "dhcp-client.ts")
    clientProcess = spawn("ip", ["netns", "exec", client, process.execPath, fixture, "c0", mac, resolvConf, statusDir], { stdio: ["ignore", "pipe", "inherit"] })
    readline.createInterface({ input: clientProcess.stdout! }).on("line", (line) => {
      events.push({ ...(JSON.parse(line) as Event), atMillis: performance.now() })
      for (const waiter of waiters.splice(0)) if (!waiter()) waiters.push(waiter)
    })

    // Lease: the address for the lease's lifetime, the default route, DNS, MTU, the status file.
    const bound = await nextEvent((e) => e.event === "bound", 20_000)
    const leased = bound.lease!.address
    expect(leased).toMatch(/^10\.77\.0\.5\d$/)
    expect(bound.lease!.leaseSeconds).toBe(120)
    const address = addresses().find((a) => a.local === leased)!
    expect([address.prefixlen, address.broadcast]).toEqual([24, "10.77.0.255"])
    expect(address.valid_life_time).toBeLessThanOrEqual(120)
    expect(address.valid_life_time).toBeGreaterThan(100)
    expect(routes()).toEqual(["default via 10.77.0.1 proto dhcp metric 1024"])
    expect(fs.readFileSync(resolvConf, "utf8")).toContain("nameserver 10.77.0.53\nsearch keel.test\n")
    expect(inClient<Array<{ mtu: number }>>("link")[0]!.mtu).toBe(1400)
    expect(JSON.parse(fs.readFileSync(path.join(statusDir, "c0.json"), "utf8"))).toMatchObject({ link: "c0", state: "bound", address: `${leased}/24`, server: "10.77.0.1" })
    expect(dnsmasqLog.join("\n")).toMatch(new RegExp(`DHCPACK\\(s0\\) ${leased.replace(/\./g, "\\.")} ${mac} keel-test`))

    // Renewal at T1 (4 s), unicast from the leased address.
    const renewed = await nextEvent((e) => e.event === "renewed", 15_000)
    expect((renewed.atMillis - bound.atMillis) / 1000).toBeGreaterThan(3)
    expect(renewed.lease!.address).toBe(leased)
    expect(dnsmasqLog.some((line) => line.includes(`DHCPREQUEST(s0) ${leased} ${mac}`))).toBe(true)

    // The server goes: unicast renewals until T2, broadcast until the lease's end, then the lease is lost.
    await stopServer()
    const stoppedAt = events.length
    const lost = await nextEvent((e) => e.event === "lost", 140_000, stoppedAt)
    expect(lost.reason).toBe("expired")
    expect(events.slice(stoppedAt).some((e) => e.log?.includes("did not renew") === true)).toBe(true)
    expect(addresses().map((a) => a.local)).not.toContain(leased)
    expect(routes()).toEqual([])
    expect(fs.readFileSync(resolvConf, "utf8")).not.toContain("nameserver")

    // The server is back: discovery finds it (retransmissions 4, 8, ... s apart).
    const lostAt = events.length
    startServer()
    const again = await nextEvent((e) => e.event === "bound", 30_000, lostAt)
    expect(addresses().map((a) => a.local)).toContain(again.lease!.address)

    // Shutdown: the lease is released to the server and the address removed.
    clientProcess.kill("SIGTERM")
    await nextEvent((e) => e.event === "exited", 10_000)
    expect(events.some((e) => e.event === "lost" && e.reason === "released")).toBe(true)
    expect(addresses()).toEqual([])
    await new Promise((resolve) => setTimeout(resolve, 500))
    expect(dnsmasqLog.some((line) => line.includes(`DHCPRELEASE(s0) ${again.lease!.address} ${mac}`))).toBe(true)
  }, 240_000)
})
