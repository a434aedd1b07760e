/**
 * What a DHCP lease means for the node: the address on the link for the lease's lifetime (so the
 * kernel drops it even if this process dies and nobody renews), the default route through the
 * first router or the classless static routes (RFC 3442), the MTU, the servers in resolv.conf, the
 * host name when the machine config names none, and a status file the agent reports. A lost lease
 * takes all of it away again. Failures are logged, never fatal: the client keeps the protocol going.
 */
import { Clock, Effect, FileSystem, Path } from "effect"
import { NodeFiles } from "@keelos/domain"
import { Links } from "@keelos/platform"
import type * as Dhcp4Client from "./Dhcp4Client.ts"
import type * as Resolver from "./Resolver.ts"

/** DHCP routes sit behind static ones (metric 0), as systemd-networkd puts them. */
export const routeMetric = 1024

export interface Options {
  readonly resolver: Resolver.Resolver
  /** Set the host name a lease offers; absent when the machine config names the host. */
  readonly setHostname?: (name: string) => Effect.Effect<void, { readonly message: string }>
  readonly log: (line: string) => Effect.Effect<void>
  /** Where lease status files go (default NodeFiles.dhcpLeaseDir). */
  readonly statusDir?: string
}

export const routesOf = (lease: Dhcp4Client.Lease): ReadonlyArray<Links.Route> => {
  const routes = lease.routes.length > 0
    ? lease.routes.filter((r) => r.gateway !== "0.0.0.0")
    : lease.routers.slice(0, 1).map((gateway) => ({ destination: "0.0.0.0/0", gateway }))
  return routes.map((r) => ({ ...r, link: lease.link, protocol: "dhcp" as const, metric: routeMetric }))
}

/** The lease as the agent reports it. */
export interface LeaseStatus {
  readonly link: string
  readonly state: "bound" | Dhcp4Client.LostReason
  readonly address: string
  readonly server: string
  readonly routers: ReadonlyArray<string>
  readonly nameservers: ReadonlyArray<string>
  readonly leaseSeconds: number
  /** Wall-clock milliseconds when the lease was granted or last renewed. */
  readonly atMillis: number
}

export const make = (options: Options) =>
  Effect.gen(function*() {
    const links = yield* Links.Links
    const fs = yield* FileSystem.FileSystem
    const path = yield* Path.Path
    const dir = options.statusDir ?? NodeFiles.dhcpLeaseDir
    const logged = <E extends { readonly message: string }>(effect: Effect.Effect<void, E>) => Effect.catch(effect, (e) => options.log(e.message))

    const record = (lease: Dhcp4Client.Lease, state: LeaseStatus["state"]) =>
      Effect.gen(function*() {
        const status: LeaseStatus = {
          link: lease.link,
          state,
          address: `${lease.address}/${lease.prefix}`,
          server: lease.server,
          routers: lease.routers,
          nameservers: lease.nameservers,
          leaseSeconds: lease.leaseSeconds,
          atMillis: yield* Clock.currentTimeMillis
        }
        const file = path.join(dir, `${lease.link}.json`)
        yield* fs.makeDirectory(dir, { recursive: true })
        yield* fs.writeFileString(`${file}.tmp`, `${JSON.stringify(status)}\n`)
        yield* fs.rename(`${file}.tmp`, file)
      })

    const remove = (lease: Dhcp4Client.Lease) =>
      Effect.gen(function*() {
        for (const route of routesOf(lease)) yield* logged(links.removeRoute(route))
        yield* logged(links.removeAddress(lease.link, `${lease.address}/${lease.prefix}`))
      })

    const bound = (lease: Dhcp4Client.Lease, previous: Dhcp4Client.Lease | undefined) =>
      Effect.gen(function*() {
        const moved = previous !== undefined && (previous.address !== lease.address || previous.prefix !== lease.prefix)
        if (moved) yield* remove(previous)
        if (lease.mtu !== undefined) yield* logged(links.setMtu(lease.link, lease.mtu))
        const lifetime = { validSeconds: lease.leaseSeconds, preferredSeconds: lease.leaseSeconds }
        yield* logged(links.addAddress(lease.link, `${lease.address}/${lease.prefix}`, lifetime))
        for (const route of routesOf(lease)) yield* logged(links.addRoute(route))
        yield* logged(options.resolver.set(`dhcp:${lease.link}`, { nameservers: lease.nameservers, search: lease.domain === undefined ? [] : [lease.domain] }))
        if (lease.hostname !== undefined && options.setHostname !== undefined) yield* logged(options.setHostname(lease.hostname))
        yield* logged(record(lease, "bound"))
        if (previous === undefined || moved) {
          const via = routesOf(lease).map((r) => ` ${r.destination === "0.0.0.0/0" ? "via" : `${r.destination} via`} ${r.gateway}`).join("")
          yield* options.log(`${lease.link} ${lease.address}/${lease.prefix}${via} from ${lease.server} for ${lease.leaseSeconds} s`)
        }
      })

    const lost = (lease: Dhcp4Client.Lease, reason: Dhcp4Client.LostReason) =>
      Effect.gen(function*() {
        yield* remove(lease)
        yield* logged(options.resolver.set(`dhcp:${lease.link}`, { nameservers: [], search: [] }))
        yield* logged(record(lease, reason))
        yield* options.log(`${lease.link} ${lease.address}/${lease.prefix} ${reason}; address and routes removed`)
      })

    return { bound, lost }
  })
