/**
 * IPv6 on the real kernel: static IPv6 addresses and gateway through our rtnetlink code, and SLAAC
 * from the router advertisements of a real router (Debian's dnsmasq with --enable-ra) across veth
 * pairs: on for one link, off for the other; read back by iproute2 as well.
 */
import { type ChildProcess, execFileSync, spawn, spawnSync } from "node:child_process"
import * as path from "node:path"
import { afterAll, beforeAll, describe, expect, it } from "vitest"

const id = `${process.pid}`
const server = `keel-ra-s-${id}`
const client = `keel-ra-c-${id}`
const ip = (...args: Array<string>) => execFileSync("ip", args, { encoding: "utf8" })
let dnsmasq: ChildProcess | undefined

beforeAll(() => {
  ip("netns", "add", server)
  ip("netns", "add", client)
  ip("link", "add", "c0", "netns", client, "address", "52:54:00:4b:45:02", "type", "veth", "peer", "name", "s0", "netns", server)
  ip("link", "add", "c1", "netns", client, "address", "52:54:00:4b:45:03", "type", "veth", "peer", "name", "s1", "netns", server)
  for (const [link, prefix] of [["s0", "fd77::1/64"], ["s1", "fd79::1/64"]] as const) {
    ip("-n", server, "addr", "add", prefix, "dev", link, "nodad")
    ip("-n", server, "link", "set", link, "up")
  }
  ip("-n", client, "link", "set", "lo", "up")
  dnsmasq = spawn("ip", [
    "netns", "exec", server, "dnsmasq", "--keep-in-foreground", "--no-daemon", "--port=0", "--interface=s0", "--interface=s1", "--bind-interfaces",
    "--enable-ra", "--dhcp-range=fd77::,ra-only,64,1h", "--dhcp-range=fd79::,ra-only,64,1h", "--dhcp-leasefile=/dev/null"
  ], { stdio: "ignore" })
})

afterAll(() => {
  dnsmasq?.kill("SIGTERM")
  for (const ns of [client, server]) spawn("ip", ["netns", "del", ns]).unref()
})

describe("IPv6 on a veth pair, a router advertising on the other end", () => {
  it("adds static IPv6 addresses and a gateway, takes SLAAC addresses where asked and not elsewhere, and withdraws what it added", () => {
    const run = spawnSync("ip", ["netns", "exec", client, process.execPath, path.join(import.meta.dirname, "fixtures", "ipv6-links.ts")], { encoding: "utf8", timeout: 60_000 })
    expect(run.stderr).toBe("")
    const result = JSON.parse(run.stdout.trim().split("\n").pop()!) as {
      before: { c0: Array<string>; c1: Array<string>; routes: Array<{ destination: string; gateway: string | null; link: string | null }> }
      after: { c0: Array<string>; routes: Array<{ destination: string; gateway: string | null; link: string | null }> }
      invalid: string
    }
    // c0: IPv4 first, then static IPv6, the address SLAAC made from the advertised prefix (EUI-64 of the MAC), link-local.
    expect(result.before.c0).toEqual(expect.arrayContaining(["10.66.0.5/24", "fd78::5/64", "fd77::5054:ff:fe4b:4502/64", "fe80::5054:ff:fe4b:4502/64"]))
    expect(result.before.c0[0]).toBe("10.66.0.5/24")
    // c1 has SLAAC off: its static address and link-local, nothing from fd79::/64.
    expect(result.before.c1.filter((a) => !a.startsWith("fe80:"))).toEqual(["fd7a::5/64"])
    // Our static IPv6 default route, and the router's (by its link-local address) from the advertisement.
    expect(result.before.routes).toContainEqual({ destination: "::/0", gateway: "fd78::1", link: "c0" })
    expect(result.before.routes.some((r) => r.destination === "::/0" && r.gateway?.startsWith("fe80:") === true && r.link === "c0")).toBe(true)
    // iproute2 agrees on the addresses.
    const iproute = (JSON.parse(ip("-n", client, "-j", "-6", "addr", "show", "dev", "c0")) as Array<{ addr_info: Array<{ local: string; prefixlen: number }> }>)[0]!
      .addr_info.map((a) => `${a.local}/${a.prefixlen}`)
    expect(iproute).toContain("fd77::5054:ff:fe4b:4502/64")
    // Withdrawn: the static address and our route are gone; what the router gave stays.
    expect(result.after.c0).not.toContain("fd78::5/64")
    expect(result.after.c0).not.toContain("10.66.0.5/24")
    expect(result.after.c0).toContain("fd77::5054:ff:fe4b:4502/64")
    expect(result.after.routes).not.toContainEqual({ destination: "::/0", gateway: "fd78::1", link: "c0" })
    expect(result.invalid).toBe("Invalid")
  }, 90_000)
})
