/**
 * The network part of a node's machine config, kept on the data partition and applied in early
 * boot, before the agent starts, so the agent is reachable: links up, MTU, static addresses,
 * default route, resolver. A link that a driver is still registering gets a few seconds to appear.
 * Links with `dhcp4` are brought up here and leased by the DHCP client keel-init runs after early
 * boot (DhcpNetwork). IPv6 and live changes through the agent come later in the network issue (#4).
 */
import { Effect, FileSystem, Schedule, Schema } from "effect"
import { NodeFiles } from "@keelos/domain"
import { Resolver } from "@keelos/network"
import { Links } from "@keelos/platform"

export const networkFile = NodeFiles.networkFile

export const InterfaceConfig = Schema.Struct({
  name: Schema.String.check(Schema.isPattern(/^[a-zA-Z0-9_.-]{1,15}$/)),
  /** Lease an address with DHCPv4 (besides any static addresses). */
  dhcp4: Schema.optional(Schema.Boolean),
  addresses: Schema.optional(Schema.Array(Links.Ipv4Cidr)),
  gateway: Schema.optional(Links.Ipv4Address),
  mtu: Schema.optional(Schema.Int.check(Schema.isBetween({ minimum: 68, maximum: 65535 })))
})

export const NetworkConfig = Schema.Struct({
  interfaces: Schema.Array(InterfaceConfig),
  /** DNS servers, written to /run/keel/resolv.conf (the image's /etc/resolv.conf points there). */
  nameservers: Schema.optional(Schema.Array(Links.Ipv4Address))
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

const decode = Schema.decodeUnknownEffect(Schema.fromJsonString(NetworkConfig))

/** The configuration in `file`, or none when there is no file. */
export const load = (file: string) =>
  Effect.gen(function*() {
    const fs = yield* FileSystem.FileSystem
    if (!(yield* Effect.orElseSucceed(fs.exists(file), () => false))) return undefined
    const text = yield* Effect.mapError(fs.readFileString(file), (e) => new NetworkConfigError({ file, reason: e.message }))
    return yield* Effect.mapError(decode(text), (issue) => new NetworkConfigError({ file, reason: String(issue).replace(/\s*\n\s*/g, "; ") }))
  })


/** Where the resolver configuration goes: tmpfs, since the root is read-only (/etc/resolv.conf links here). */
export const resolvConf = NodeFiles.resolvConf

/** The links the DHCP client leases. */
export const dhcpLinks = (config: NetworkConfig): ReadonlyArray<string> => config.interfaces.filter((i) => i.dhcp4 === true).map((i) => i.name)

/** The resolver's entry for the static configuration. */
export const resolverEntry = (config: NetworkConfig): Resolver.Entry => ({ nameservers: config.nameservers ?? [], search: [] })

/** Apply `config`; returns one line per interface saying what it has now, and one for DNS. */
export const apply = (config: NetworkConfig) =>
  Effect.gen(function*() {
    const links = yield* Links.Links
    const fs = yield* FileSystem.FileSystem
    const lines: Array<string> = []
    for (const link of config.interfaces) {
      // A link whose driver is still registering it gets 5 seconds to appear.
      yield* links.up(link.name).pipe(Effect.retry({ schedule: Schedule.spaced("100 millis"), times: 50, while: (e) => e.reason === "NotFound" }))
      if (link.mtu !== undefined) yield* links.setMtu(link.name, link.mtu)
      for (const address of link.addresses ?? []) yield* links.addAddress(link.name, address)
      if (link.gateway !== undefined) yield* links.addRoute({ destination: "0.0.0.0/0", gateway: link.gateway, link: link.name })
      const now = yield* links.addresses(link.name)
      lines.push(`${link.name} ${[...now, ...(link.dhcp4 === true ? ["DHCP"] : [])].join(" ")}${link.gateway === undefined ? "" : ` via ${link.gateway}`}`)
    }
    const servers = config.nameservers ?? []
    if (servers.length > 0) {
      const entries = new Map([["static", resolverEntry(config)]])
      yield* Effect.mapError(fs.makeDirectory("/run/keel", { recursive: true }), (e) => new NetworkConfigError({ file: resolvConf, reason: e.message }))
      yield* Effect.mapError(fs.writeFileString(resolvConf, Resolver.render(entries)), (e) => new NetworkConfigError({ file: resolvConf, reason: e.message }))
      lines.push(`dns ${servers.join(" ")}`)
    }
    return lines
  })
