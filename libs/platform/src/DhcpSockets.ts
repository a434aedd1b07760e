/**
 * The DHCPv4 client's socket: UDP port 68 bound to one link, so that a broadcast leaves through
 * that link even while the node has no address and no route, and only that link's replies arrive.
 * The protocol itself (libs/network) is platform-free; this is the one side effect it needs besides
 * `Links`.
 */
import { Context, Effect, type Scope } from "effect"
import type { LinkError } from "./Links.ts"

/** The limited broadcast address: before a lease, and when rebinding. */
export const broadcast = "255.255.255.255"

export interface DhcpSocket {
  /** Send a BOOTP message to port 67 of `to` (`broadcast`, or a server while renewing). */
  readonly send: (message: Uint8Array, to: string) => Effect.Effect<void, LinkError>
  /** The next message that arrived on the link from a server (port 67); waits for one. */
  readonly receive: Effect.Effect<Uint8Array>
}

export class DhcpSockets extends Context.Service<DhcpSockets, {
  /** A socket on `link`, closed with the scope. A queue of arrivals is bounded; the oldest go first. */
  readonly open: (link: string) => Effect.Effect<DhcpSocket, LinkError, Scope.Scope>
}>()("@keelos/platform/DhcpSockets") {}
