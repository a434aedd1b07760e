/**
 * The network part of a node's machine config (/var/lib/keel/config/network.json): per link, DHCP
 * or not, SLAAC or not, static IPv4 and IPv6 addresses, gateways, an MTU; and the static DNS servers. One schema for keel-init
 * (which applies it), the agent (which checks a new one before handing it to init) and the seed.
 */
import { Effect, FileSystem, Schema } from "effect"
import { Links } from "@keelos/platform"
import type * as Resolver from "./Resolver.ts"

export const InterfaceConfig = Schema.Struct({
  name: Schema.String.check(Schema.isPattern(/^[a-zA-Z0-9_.-]{1,15}$/)),
  /** Lease an address with DHCPv4 (besides any static addresses). */
  dhcp4: Schema.optional(Schema.Boolean),
  /** IPv6 addresses from router advertisements (SLAAC) and a default route through the router: on or off; absent leaves the kernel's default (on). */
  slaac: Schema.optional(Schema.Boolean),
  /** Static addresses, IPv4 and IPv6. */
  addresses: Schema.optional(Schema.Array(Schema.Union([Links.Ipv4Cidr, Links.Ipv6Cidr]))),
  gateway: Schema.optional(Links.Ipv4Address),
  gateway6: Schema.optional(Links.Ipv6Address),
  mtu: Schema.optional(Schema.Int.check(Schema.isBetween({ minimum: 68, maximum: 65535 })))
})
export type InterfaceConfig = typeof InterfaceConfig.Type

const linkName = Schema.String.check(Schema.isPattern(/^[a-zA-Z0-9_.-]{1,15}$/))

/** A VLAN (802.1Q) on a link: `eth0.100` on eth0 with id 100. Configured like any link under `interfaces`. */
export const VlanConfig = Schema.Struct({
  name: linkName,
  link: linkName,
  id: Schema.Int.check(Schema.isBetween({ minimum: 1, maximum: 4094 }))
})
export type VlanConfig = typeof VlanConfig.Type

/** A bond of links. Configured like any link under `interfaces`; its ports carry no addresses of their own. */
export const BondConfig = Schema.Struct({
  name: linkName,
  mode: Links.BondMode,
  links: Schema.Array(linkName).check(Schema.isMinLength(1)),
  /** Link monitoring interval (default 100 ms). */
  miimonMillis: Schema.optional(Schema.Int.check(Schema.isBetween({ minimum: 0, maximum: 60_000 })))
})
export type BondConfig = typeof BondConfig.Type

const unique = <A extends { readonly name: string }>(what: string) =>
  Schema.makeFilter((items: ReadonlyArray<A>) => new Set(items.map((i) => i.name)).size === items.length || `each ${what} may appear once`)

export const NetworkConfig = Schema.Struct({
  interfaces: Schema.Array(InterfaceConfig).check(unique("interface")),
  vlans: Schema.optional(Schema.Array(VlanConfig).check(unique("VLAN"))),
  bonds: Schema.optional(Schema.Array(BondConfig).check(unique("bond"))),
  /** DNS servers, written to /run/keel/resolv.conf (the image's /etc/resolv.conf points there). */
  nameservers: Schema.optional(Schema.Array(Schema.Union([Links.Ipv4Address, Links.Ipv6Address])))
})
export type NetworkConfig = typeof NetworkConfig.Type

export class NetworkConfigError extends Schema.TaggedError<NetworkConfigError>()("NetworkConfigError", {
  file: Schema.String,
  reason: Schema.String
}) {
  override get message(): string {
    return `${this.file}: ${this.reason}`
  }
}

/** A key the schema does not know is refused, not dropped: `adresses` for `addresses` must not pass as no addresses. */
export const strict = { onExcessProperty: "error" } as const

const decodeJson = Schema.decodeUnknownEffect(Schema.fromJsonString(NetworkConfig), strict)

/** `text` (JSON) as a configuration; `source` names it in the error. */
export const decode = (text: string, source: string) =>
  Effect.mapError(decodeJson(text), (issue) => new NetworkConfigError({ file: source, reason: String(issue).replace(/\s*\n\s*/g, "; ") }))

export const encode = (config: NetworkConfig): string => `${JSON.stringify(config, null, 2)}\n`

/** The configuration in `file`, or none when there is no file. */
export const load = (file: string) =>
  Effect.gen(function*() {
    const fs = yield* FileSystem.FileSystem
    if (!(yield* Effect.orElseSucceed(fs.exists(file), () => false))) return undefined
    const text = yield* Effect.mapError(fs.readFileString(file), (e) => new NetworkConfigError({ file, reason: e.message }))
    return yield* decode(text, file)
  })

/** The links the DHCP client leases. */
export const dhcpLinks = (config: NetworkConfig): ReadonlyArray<string> => config.interfaces.filter((i) => i.dhcp4 === true).map((i) => i.name)

/** The resolver's entry for the static configuration. */
export const resolverEntry = (config: NetworkConfig): Resolver.Entry => ({ nameservers: config.nameservers ?? [], search: [] })

export const empty: NetworkConfig = { interfaces: [] }
