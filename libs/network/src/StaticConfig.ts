/**
 * The static part of a link's configuration, put on and taken off: the link up (a link a driver is
 * still registering gets 5 seconds to appear), its MTU, its addresses and its default route; and
 * what a new configuration no longer has, withdrawn. DHCP leases are the client's business.
 */
import { Effect, Schedule } from "effect"
import { Links } from "@keelos/platform"
import type * as NetworkConfig from "./NetworkConfig.ts"

const defaultRoute = (link: string, gateway: string): Links.Route => ({ destination: "0.0.0.0/0", gateway, link })

/** Brings `config` onto its link; returns what the link has now, in one line. */
export const apply = (config: NetworkConfig.InterfaceConfig) =>
  Effect.gen(function*() {
    const links = yield* Links.Links
    yield* links.up(config.name).pipe(Effect.retry({ schedule: Schedule.spaced("100 millis"), times: 50, while: (e) => e.reason === "NotFound" }))
    if (config.mtu !== undefined) yield* links.setMtu(config.name, config.mtu)
    for (const address of config.addresses ?? []) yield* links.addAddress(config.name, address)
    if (config.gateway !== undefined) yield* links.addRoute(defaultRoute(config.name, config.gateway))
    const now = yield* links.addresses(config.name)
    return `${config.name} ${[...now, ...(config.dhcp4 === true ? ["DHCP"] : [])].join(" ")}${config.gateway === undefined ? "" : ` via ${config.gateway}`}`
  })

/** Takes off the link what `before` put there and `after` (the same link's new configuration, if any) does not have. */
export const withdraw = (before: NetworkConfig.InterfaceConfig, after: NetworkConfig.InterfaceConfig | undefined) =>
  Effect.gen(function*() {
    const links = yield* Links.Links
    if (before.gateway !== undefined && before.gateway !== after?.gateway) yield* links.removeRoute(defaultRoute(before.name, before.gateway))
    for (const address of before.addresses ?? []) {
      if (!(after?.addresses ?? []).includes(address)) yield* links.removeAddress(before.name, address)
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
    if ((old?.dhcp4 === true) !== (now?.dhcp4 === true)) lines.push(`${name}: ${now?.dhcp4 === true ? "start" : "stop"} DHCP`)
    if (now?.mtu !== undefined && now.mtu !== old?.mtu) lines.push(`${name}: MTU ${now.mtu}`)
    if (now === undefined) lines.push(`${name}: no longer configured (left up)`)
  }
  const oldServers = (before.nameservers ?? []).join(" ")
  const newServers = (after.nameservers ?? []).join(" ")
  if (oldServers !== newServers) lines.push(`nameservers: ${oldServers || "none"} -> ${newServers || "none"}`)
  return lines
}
