/**
 * The static IPv4 configuration of a node, kept on the data partition (machine config) and applied
 * in early boot, before the agent starts, so the agent is reachable: links up, addresses, default
 * route. A link that a driver is still registering gets a few seconds to appear. DHCP, IPv6 and
 * live changes through the agent come with the network issue (#4); this file's format is the
 * static part of that machine config.
 */
import { Effect, FileSystem, Schedule, Schema } from "effect"
import { NodeFiles } from "@keelos/domain"
import { Links } from "@keelos/platform"

export const networkFile = NodeFiles.networkFile

export const InterfaceConfig = Schema.Struct({
  name: Schema.String.check(Schema.isPattern(/^[a-zA-Z0-9_.-]{1,15}$/)),
  addresses: Schema.Array(Links.Ipv4Cidr),
  gateway: Schema.optional(Links.Ipv4Address)
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

/** Apply `config`; returns one line per interface saying what it has now, and one for DNS. */
export const apply = (config: NetworkConfig) =>
  Effect.gen(function*() {
    const links = yield* Links.Links
    const fs = yield* FileSystem.FileSystem
    const lines: Array<string> = []
    for (const link of config.interfaces) {
      // A link whose driver is still registering it gets 5 seconds to appear.
      yield* links.up(link.name).pipe(Effect.retry({ schedule: Schedule.spaced("100 millis"), times: 50, while: (e) => e.reason === "NotFound" }))
      for (const address of link.addresses) yield* links.addAddress(link.name, address)
      if (link.gateway !== undefined) yield* links.addRoute({ destination: "0.0.0.0/0", gateway: link.gateway, link: link.name })
      const now = yield* links.addresses(link.name)
      lines.push(`${link.name} ${now.join(" ")}${link.gateway === undefined ? "" : ` via ${link.gateway}`}`)
    }
    const servers = config.nameservers ?? []
    if (servers.length > 0) {
      yield* Effect.mapError(fs.makeDirectory("/run/keel", { recursive: true }), (e) => new NetworkConfigError({ file: resolvConf, reason: e.message }))
      yield* Effect.mapError(fs.writeFileString(resolvConf, servers.map((server) => `nameserver ${server}\n`).join("")), (e) => new NetworkConfigError({ file: resolvConf, reason: e.message }))
      lines.push(`dns ${servers.join(" ")}`)
    }
    return lines
  })
