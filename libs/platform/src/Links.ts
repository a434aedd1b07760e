/**
 * Network links: bring a link up or down, set its MTU and SLAAC, make VLANs and bonds and enslave
 * ports, give links IPv4 and IPv6 addresses (forever, or for a DHCP lease's lifetime so the kernel
 * drops them if nobody renews) and routes, take them away again, and read back what the kernel has.
 * Early boot uses it for loopback and the static configuration; the DHCP client for its leases; the
 * NetworkManager for live changes; the agent to report the network's state.
 */
import { Context, Effect, Schema } from "effect"
import * as Ipv6 from "./Ipv6.ts"

export class LinkError extends Schema.TaggedError<LinkError>()("LinkError", {
  operation: Schema.Literals(["up", "down", "create", "remove", "setMaster", "setMtu", "setIpv6Autoconf", "addAddress", "removeAddress", "addRoute", "removeRoute", "addresses", "list", "routes", "dhcp"]),
  link: Schema.String,
  /** NotFound: no such link; Absent: no such address or route on it. */
  reason: Schema.Literals(["NotFound", "Absent", "NotPermitted", "Exists", "Invalid", "Io"]),
  detail: Schema.String
}) {
  override get message(): string {
    return `${this.operation} ${this.link}: ${this.reason}: ${this.detail}`
  }
}

/** `a.b.c.d/len`. */
export const Ipv4Cidr = Schema.String.check(
  Schema.isPattern(/^((25[0-5]|2[0-4]\d|1?\d?\d)\.){3}(25[0-5]|2[0-4]\d|1?\d?\d)\/(3[0-2]|[12]?\d)$/)
)
/** An IPv6 address with its prefix length, `fd00::5/64`. */
export const Ipv6Cidr = Schema.String.check(Schema.makeFilter((text: string) => Ipv6.isCidr(text) || "an IPv6 address with a prefix length"))
export const Ipv6Address = Schema.String.check(Schema.makeFilter((text: string) => Ipv6.parse(text) !== undefined || "an IPv6 address"))
export const Ipv4Address = Schema.String.check(Schema.isPattern(/^((25[0-5]|2[0-4]\d|1?\d?\d)\.){3}(25[0-5]|2[0-4]\d|1?\d?\d)$/))

export interface Route {
  /** `0.0.0.0/0` (or `::/0`) for the default route; the gateway is of the same family. */
  readonly destination: string
  readonly gateway: string
  readonly link: string
  /** Who installed it, as the kernel records it (`proto static` or `proto dhcp`); static by default. */
  readonly protocol?: "static" | "dhcp"
  /** The route's metric (priority); 0 by default. */
  readonly metric?: number
}

/** How long an address lives: the kernel removes it when `validSeconds` run out. */
export interface Lifetime {
  readonly validSeconds: number
  readonly preferredSeconds: number
}

/** The bonding modes of the Linux bonding driver, by their names in its documentation. */
export const BondMode = Schema.Literals(["balance-rr", "active-backup", "balance-xor", "broadcast", "802.3ad", "balance-tlb", "balance-alb"])
export type BondMode = typeof BondMode.Type

/** A link made in software: a VLAN on a parent link, or a bond of links. */
export type VirtualLink =
  | { readonly kind: "vlan"; readonly name: string; readonly parent: string; readonly id: number }
  | { readonly kind: "bond"; readonly name: string; readonly mode: BondMode; readonly miimonMillis: number }

export interface LinkInfo {
  readonly name: string
  /** The driver kind of a software link (vlan, bond, veth, ...); null for hardware. */
  readonly kind: string | null
  /** The bond (or bridge) this link is a port of. */
  readonly master: string | null
  readonly up: boolean
  /** The kernel's operational state: up, down, unknown (loopback), dormant, ... */
  readonly operstate: string
  readonly mtu: number
  readonly mac: string
}

export interface RouteInfo {
  readonly destination: string
  readonly gateway: string | null
  readonly link: string | null
}

export class Links extends Context.Service<Links, {
  readonly up: (name: string) => Effect.Effect<void, LinkError>
  readonly down: (name: string) => Effect.Effect<void, LinkError>
  /** Make a VLAN or a bond; one of that name already there is success. */
  readonly create: (link: VirtualLink) => Effect.Effect<void, LinkError>
  /** Delete a software link; one not there is success. */
  readonly remove: (name: string) => Effect.Effect<void, LinkError>
  /** Make `name` a port of the bond `master` (it must be down), or of none. */
  readonly setMaster: (name: string, master: string | null) => Effect.Effect<void, LinkError>
  readonly setMtu: (name: string, mtu: number) => Effect.Effect<void, LinkError>
  /** Whether the link takes IPv6 router advertisements and makes addresses from them (SLAAC). */
  readonly setIpv6Autoconf: (name: string, enabled: boolean) => Effect.Effect<void, LinkError>
  /**
   * Add `address` (CIDR, with its subnet's broadcast address) to the link; an address already there
   * is success. With a lifetime the address is added or its lifetime replaced (a renewed lease).
   */
  readonly addAddress: (name: string, address: string, lifetime?: Lifetime) => Effect.Effect<void, LinkError>
  /** Remove `address` (CIDR) from the link; an address not there is success. */
  readonly removeAddress: (name: string, address: string) => Effect.Effect<void, LinkError>
  /** Add a route through `gateway` on `link`; a route already there is success. */
  readonly addRoute: (route: Route) => Effect.Effect<void, LinkError>
  /** Remove a route; a route not there is success. */
  readonly removeRoute: (route: Route) => Effect.Effect<void, LinkError>
  /** The addresses (CIDR) the kernel has on the link: IPv4 first, then IPv6 (link-local ones too). */
  readonly addresses: (name: string) => Effect.Effect<ReadonlyArray<string>, LinkError>
  /** Every link the kernel has. */
  readonly list: Effect.Effect<ReadonlyArray<LinkInfo>, LinkError>
  /** The routes of the main table, IPv4 then IPv6. */
  readonly routes: Effect.Effect<ReadonlyArray<RouteInfo>, LinkError>
}>()("@keelos/platform/Links") {}
