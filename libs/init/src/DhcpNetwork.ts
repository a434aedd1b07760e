/**
 * keel-init runs the DHCP client of each `dhcp4` link as a fiber of its own, not as a supervised
 * service: a lease must outlive any service's crash, its addresses need the netlink rights PID 1
 * has, and a fiber costs nothing where another Node process would cost 40 MB. The fiber is
 * restarted (with backoff) if the link vanishes; boot waits for the first lease on every DHCP link
 * up to `waitMillis`, like network-online, so kubelet and the agent start with an address, and goes
 * on without one after that (the client keeps asking). At shutdown the leases are released.
 */
import { Console, Deferred, Duration, Effect, Schedule } from "effect"
import { NodeFiles } from "@keelos/domain"
import { Dhcp4Client, LeaseInstaller, Resolver } from "@keelos/network"
import { Kernel, Links } from "@keelos/platform"
import * as StaticNetwork from "./StaticNetwork.ts"

const log = (line: string) => Console.log(`keel-init: network: ${line}`)

export interface Options {
  readonly config: StaticNetwork.NetworkConfig
  /** Whether the machine config names the host; if not, a lease's host name is taken. */
  readonly hostnameConfigured: boolean
  readonly waitMillis: number
}

/** Starts a client per DHCP link in the current scope; returns once each has a lease or the wait is over. */
export const start = (options: Options) =>
  Effect.gen(function*() {
    const names = StaticNetwork.dhcpLinks(options.config)
    if (names.length === 0) return
    const links = yield* Links.Links
    const kernel = yield* Kernel.Kernel
    const resolver = yield* Resolver.make(NodeFiles.resolvConf, new Map([["static", StaticNetwork.resolverEntry(options.config)]]))
    const installer = yield* LeaseInstaller.make({
      resolver,
      log,
      ...(options.hostnameConfigured ? {} : { setHostname: kernel.setHostname })
    })
    const firsts = yield* Effect.forEach(names, (name) =>
      Effect.gen(function*() {
        const first = yield* Deferred.make<void>()
        const client = Effect.gen(function*() {
          const mac = (yield* links.list).find((l) => l.name === name)?.mac
          if (mac === undefined) return yield* new Links.LinkError({ operation: "dhcp", link: name, reason: "NotFound", detail: "no such link" })
          return yield* Dhcp4Client.run({
            link: name,
            mac,
            bound: (lease, previous) => Effect.andThen(installer.bound(lease, previous), Deferred.succeed(first, undefined)),
            lost: installer.lost,
            log: (line) => log(`${name}: ${line}`)
          })
        })
        const restarted = client.pipe(
          Effect.tapError((error) => log(`${name}: ${error.message}; trying again`)),
          Effect.retry(Schedule.min([Schedule.exponential("1 second"), Schedule.spaced("1 minute")]))
        )
        yield* Effect.forkScoped(restarted)
        return { name, first }
      }))
    yield* Effect.forEach(firsts, ({ name, first }) =>
      Deferred.await(first).pipe(
        Effect.timeoutOption(Duration.millis(options.waitMillis)),
        Effect.flatMap((got) => got._tag === "None" ? log(`${name}: no DHCP lease within ${options.waitMillis / 1000} s; booting on, the client keeps asking`) : Effect.void)
      ), { concurrency: "unbounded", discard: true })
  })
