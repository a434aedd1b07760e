/**
 * The static part of a network configuration, put on and taken off: bonds (ports enslaved) and
 * VLANs made; each link up (a link a driver is still registering gets 5 seconds to appear), SLAAC
 * on or off, its MTU, its IPv4 and IPv6 addresses and its default routes; and what a new
 * configuration no longer has, withdrawn. DHCP leases are the client's business.
 */
import { Effect, Schedule } from "effect"
import { Links } from "@keelos/platform"
import type * as NetworkConfig from "./NetworkConfig.ts"

const defaultRoute = (link: string, gateway: string): Links.Route => ({ destination: gateway.includes(":") ? "::/0" : "0.0.0.0/0", gateway, link })

const gatewaysOf = (config: NetworkConfig.InterfaceConfig | undefined) => [config?.gateway, config?.gateway6].filter((g) => g !== undefined)

/** Brings `config` onto its link; returns what the link has now, in one line. */
export const apply = (config: NetworkConfig.InterfaceConfig) =>
  Effect.gen(function*() {
    const links = yield* Links.Links
    yield* links.up(config.name).pipe(Effect.retry({ schedule: Schedule.spaced("100 millis"), times: 50, while: (e) => e.reason === "NotFound" }))
    if (config.slaac !== undefined) yield* links.setIpv6Autoconf(config.name, config.slaac)
    if (config.mtu !== undefined) yield* links.setMtu(config.name, config.mtu)
    for (const address of config.addresses ?? []) yield* links.addAddress(config.name, address)
    for (const gateway of gatewaysOf(config)) yield* links.addRoute(defaultRoute(config.name, gateway))
    const now = (yield* links.addresses(config.name)).filter((a) => !a.startsWith("fe80:"))
    const extras = [...(config.dhcp4 === true ? ["DHCP"] : []), ...(config.slaac === true ? ["SLAAC"] : [])]
    const via = gatewaysOf(config).map((g) => ` via ${g}`).join("")
    return `${config.name} ${[...now, ...extras].join(" ")}${via}`
  })

/** Takes off the link what `before` put there and `after` (the same link's new configuration, if any) does not have. */
export const withdraw = (before: NetworkConfig.InterfaceConfig, after: NetworkConfig.InterfaceConfig | undefined) =>
  Effect.gen(function*() {
    const links = yield* Links.Links
    for (const gateway of gatewaysOf(before)) {
      if (!gatewaysOf(after).includes(gateway)) yield* links.removeRoute(defaultRoute(before.name, gateway))
    }
    for (const address of before.addresses ?? []) {
      if (!(after?.addresses ?? []).includes(address)) yield* links.removeAddress(before.name, address)
    }
  })

const sameVlan = (a: NetworkConfig.VlanConfig, b: NetworkConfig.VlanConfig | undefined) => b !== undefined && a.link === b.link && a.id === b.id
const sameBond = (a: NetworkConfig.BondConfig, b: NetworkConfig.BondConfig | undefined) =>
  b !== undefined && a.mode === b.mode && (a.miimonMillis ?? 100) === (b.miimonMillis ?? 100)

/**
 * Makes the configuration's bonds (ports taken down, enslaved, brought up again: the kernel refuses
 * a port that is up) and then its VLANs (which may sit on a bond). Returns one line per link made.
 */
export const createVirtual = (config: NetworkConfig.NetworkConfig) =>
  Effect.gen(function*() {
    const links = yield* Links.Links
    const existing = new Map((yield* links.list).map((l) => [l.name, l]))
    const lines: Array<string> = []
    for (const bond of config.bonds ?? []) {
      yield* links.create({ kind: "bond", name: bond.name, mode: bond.mode, miimonMillis: bond.miimonMillis ?? 100 })
      for (const port of bond.links) {
        if (existing.get(port)?.master === bond.name) continue
        yield* links.down(port).pipe(Effect.retry({ schedule: Schedule.spaced("100 millis"), times: 50, while: (e) => e.reason === "NotFound" }))
        yield* links.setMaster(port, bond.name)
        yield* links.up(port)
      }
      yield* links.up(bond.name)
      lines.push(`${bond.name} bond (${bond.mode}) of ${bond.links.join(", ")}`)
    }
    for (const vlan of config.vlans ?? []) {
      yield* links.create({ kind: "vlan", name: vlan.name, parent: vlan.link, id: vlan.id }).pipe(
        Effect.retry({ schedule: Schedule.spaced("100 millis"), times: 50, while: (e) => e.reason === "NotFound" })
      )
      yield* links.up(vlan.name)
      lines.push(`${vlan.name} VLAN ${vlan.id} on ${vlan.link}`)
    }
    return lines
  })

/** Deletes the VLANs and bonds `before` made that `after` does not have (or has differently), and frees ports a bond no longer has. */
export const withdrawVirtual = (before: NetworkConfig.NetworkConfig, after: NetworkConfig.NetworkConfig) =>
  Effect.gen(function*() {
    const links = yield* Links.Links
    for (const vlan of before.vlans ?? []) {
      if (!sameVlan(vlan, (after.vlans ?? []).find((v) => v.name === vlan.name))) yield* links.remove(vlan.name)
    }
    for (const bond of before.bonds ?? []) {
      const next = (after.bonds ?? []).find((b) => b.name === bond.name)
      if (!sameBond(bond, next)) {
        yield* links.remove(bond.name)
        continue
      }
      for (const port of bond.links) if (!next!.links.includes(port)) yield* links.setMaster(port, null)
    }
  })

/** One line per difference between two configurations, for an operator to read before and after. */
export const describeChanges = (before: NetworkConfig.NetworkConfig, after: NetworkConfig.NetworkConfig): ReadonlyArray<string> => {
  const lines: Array<string> = []
  const names = [...new Set([...before.interfaces, ...after.interfaces].map((i) => i.name))]
  for (const name of names) {
    const old = before.interfaces.find((i) => i.name === name)
    const now = after.interfaces.find((i) => i.name === name)
    const oldAddresses = old?.addresses ?? []
    const newAddresses = now?.addresses ?? []
    for (const a of oldAddresses) if (!newAddresses.includes(a)) lines.push(`${name}: remove ${a}`)
    for (const a of newAddresses) if (!oldAddresses.includes(a)) lines.push(`${name}: add ${a}`)
    if (old?.gateway !== now?.gateway) lines.push(`${name}: gateway ${old?.gateway ?? "none"} -> ${now?.gateway ?? "none"}`)
    if (old?.gateway6 !== now?.gateway6) lines.push(`${name}: IPv6 gateway ${old?.gateway6 ?? "none"} -> ${now?.gateway6 ?? "none"}`)
    if (now?.slaac !== undefined && now.slaac !== old?.slaac) lines.push(`${name}: SLAAC ${now.slaac ? "on" : "off"}`)
    if ((old?.dhcp4 === true) !== (now?.dhcp4 === true)) lines.push(`${name}: ${now?.dhcp4 === true ? "start" : "stop"} DHCP`)
    if (now?.mtu !== undefined && now.mtu !== old?.mtu) lines.push(`${name}: MTU ${now.mtu}`)
    if (now === undefined) lines.push(`${name}: no longer configured (left up)`)
  }
  for (const vlan of before.vlans ?? []) {
    if (!sameVlan(vlan, (after.vlans ?? []).find((v) => v.name === vlan.name))) lines.push(`${vlan.name}: remove VLAN`)
  }
  for (const vlan of after.vlans ?? []) {
    if (!sameVlan(vlan, (before.vlans ?? []).find((v) => v.name === vlan.name))) lines.push(`${vlan.name}: VLAN ${vlan.id} on ${vlan.link}`)
  }
  for (const bond of before.bonds ?? []) {
    if (!sameBond(bond, (after.bonds ?? []).find((b) => b.name === bond.name))) lines.push(`${bond.name}: remove bond`)
  }
  for (const bond of after.bonds ?? []) {
    const old = (before.bonds ?? []).find((b) => b.name === bond.name)
    if (!sameBond(bond, old) || old!.links.join(" ") !== bond.links.join(" ")) lines.push(`${bond.name}: bond (${bond.mode}) of ${bond.links.join(", ")}`)
  }
  const oldServers = (before.nameservers ?? []).join(" ")
  const newServers = (after.nameservers ?? []).join(" ")
  if (oldServers !== newServers) lines.push(`nameservers: ${oldServers || "none"} -> ${newServers || "none"}`)
  return lines
}
