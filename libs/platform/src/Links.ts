/**
 * Network links: bring a link up, give it IPv4 addresses and routes, and read back what the kernel
 * has. Early boot uses it for loopback and for the static configuration on the data partition; the
 * network issue (#4) grows it with DHCP, IPv6, MTU and link state.
 */
import { Context, Effect, Schema } from "effect"

export class LinkError extends Schema.TaggedError<LinkError>()("LinkError", {
  operation: Schema.Literals(["up", "addAddress", "addRoute", "addresses", "list", "routes"]),
  link: Schema.String,
  reason: Schema.Literals(["NotFound", "NotPermitted", "Exists", "Invalid", "Io"]),
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
export const Ipv4Address = Schema.String.check(Schema.isPattern(/^((25[0-5]|2[0-4]\d|1?\d?\d)\.){3}(25[0-5]|2[0-4]\d|1?\d?\d)$/))

export interface Route {
  /** `0.0.0.0/0` for the default route. */
  readonly destination: string
  readonly gateway: string
  readonly link: string
}

export interface LinkInfo {
  readonly name: string
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
  /** Add `address` (CIDR) to the link; an address already there is success. */
  readonly addAddress: (name: string, address: string) => Effect.Effect<void, LinkError>
  /** Add a route through `gateway` on `link`; a route already there is success. */
  readonly addRoute: (route: Route) => Effect.Effect<void, LinkError>
  /** The IPv4 addresses (CIDR) the kernel has on the link. */
  readonly addresses: (name: string) => Effect.Effect<ReadonlyArray<string>, LinkError>
  /** Every link the kernel has. */
  readonly list: Effect.Effect<ReadonlyArray<LinkInfo>, LinkError>
  /** The IPv4 routes of the main table. */
  readonly routes: Effect.Effect<ReadonlyArray<RouteInfo>, LinkError>
}>()("@keelos/platform/Links") {}
