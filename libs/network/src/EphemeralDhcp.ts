/**
 * A DHCP lease for a moment, before the node has a network configuration: what fetching a NoCloud
 * seed over HTTP needs (cloud-init's ephemeral DHCP). A client on every hardware link; the first
 * lease is installed and used; when `use` ends every client stops, the lease is released and its
 * address and routes are removed, so the machine config then starts from a clean link.
 */
import { Deferred, Duration, Effect, Option, Schema } from "effect"
import { NodeFiles } from "@keelos/domain"
import { Links } from "@keelos/platform"
import * as Dhcp4Client from "./Dhcp4Client.ts"
import * as LeaseInstaller from "./LeaseInstaller.ts"
import * as Resolver from "./Resolver.ts"

export class NoLease extends Schema.TaggedError<NoLease>()("NoLease", {
  links: Schema.Array(Schema.String),
  waitedMillis: Schema.Number
}) {
  override get message(): string {
    return this.links.length === 0
      ? "no network link to ask a DHCP server on"
      : `no DHCP lease on ${this.links.join(", ")} within ${this.waitedMillis / 1000} s`
  }
}

/** Where the moment's lease status goes, apart from the leases the agent reports. */
const statusDir = `${NodeFiles.dhcpLeaseDir}-ephemeral`

export const withLease = <A, E, R>(
  options: { readonly waitMillis: number; readonly log: (line: string) => Effect.Effect<void> },
  use: (lease: Dhcp4Client.Lease) => Effect.Effect<A, E, R>
) =>
  Effect.scoped(Effect.gen(function*() {
    const links = yield* Links.Links
    const resolver = yield* Resolver.make(NodeFiles.resolvConf)
    const installer = yield* LeaseInstaller.make({ resolver, log: options.log, statusDir })
    const first = yield* Deferred.make<Dhcp4Client.Lease>()
    const candidates = (yield* Effect.orElseSucceed(links.list, () => [])).filter((l) => l.kind === null && l.name !== "lo" && l.mac !== "")
    if (candidates.length === 0) return yield* new NoLease({ links: [], waitedMillis: 0 })
    for (const link of candidates) {
      yield* Effect.ignore(links.up(link.name))
      yield* Effect.forkScoped(Effect.ignore(Dhcp4Client.run({
        link: link.name,
        mac: link.mac,
        bound: (lease, previous) => Effect.andThen(installer.bound(lease, previous), Deferred.succeed(first, lease)),
        lost: installer.lost,
        log: (line) => options.log(`${link.name}: ${line}`)
      })))
    }
    const lease = yield* Deferred.await(first).pipe(Effect.timeoutOption(Duration.millis(options.waitMillis)))
    if (Option.isNone(lease)) return yield* new NoLease({ links: candidates.map((l) => l.name), waitedMillis: options.waitMillis })
    return yield* use(lease.value)
  }))
