/**
 * The node's network while it runs, owned by keel-init: the configuration in force, a DHCP client
 * fiber per `dhcp4` link, the resolver, and changes made live.
 *
 * A change is planned at once (the caller gets the list of differences) and applied a moment later,
 * so the answer leaves over the old network before the addresses it went out on are gone. In `try`
 * mode the new configuration is not saved: unless `confirm` comes within the timeout (which a
 * client can only send if it still reaches the node), the previous configuration is put back; a
 * reboot in the meantime boots the saved one. `apply` mode saves it at once. Like `commit
 * confirmed` on a router, or `talosctl apply-config --mode try`.
 */
import { Clock, Deferred, Duration, Effect, Fiber, FiberMap, FileSystem, Option, Path, Ref, Schedule, Schema, type Scope, Semaphore } from "effect"
import { NodeFiles } from "@keelos/domain"
import { DhcpSockets, Kernel, Links } from "@keelos/platform"
import { AtomicFile } from "@keelos/store"
import * as Dhcp4Client from "./Dhcp4Client.ts"
import * as LeaseInstaller from "./LeaseInstaller.ts"
import * as NetworkConfig from "./NetworkConfig.ts"
import * as Resolver from "./Resolver.ts"
import * as StaticConfig from "./StaticConfig.ts"

const decodeRemembered = Schema.decodeUnknownEffect(Schema.fromJsonString(Schema.Struct({ address: Schema.String, expiresAtMillis: Schema.Number })))

export class NetworkChangeError extends Schema.TaggedError<NetworkChangeError>()("NetworkChangeError", {
  operation: Schema.Literals(["apply", "confirm"]),
  reason: Schema.String
}) {
  override get message(): string {
    return `network ${this.operation}: ${this.reason}`
  }
}

export type Mode =
  | { readonly _tag: "apply" }
  | { readonly _tag: "try"; readonly timeoutMillis: number }

export interface Planned {
  readonly changes: ReadonlyArray<string>
  /** Wall-clock time at which an unconfirmed try is reverted; null in apply mode. */
  readonly revertAtMillis: number | null
}

export interface Options {
  /** What early boot applied (its static part); undefined when the node has no network config. */
  readonly initial: NetworkConfig.NetworkConfig | undefined
  /** Where the configuration is saved (default NodeFiles.networkFile). */
  readonly file?: string
  /** Whether the machine config names the host; if not, a lease's host name is taken. */
  readonly hostnameConfigured: boolean
  /** How long after planning a change is applied (default 1 s). */
  readonly applyDelayMillis?: number
  readonly log: (line: string) => Effect.Effect<void>
}

export interface NetworkManager {
  /** Start the DHCP clients of the initial configuration; returns once each has a lease or `waitMillis` is over. */
  readonly start: (waitMillis: number) => Effect.Effect<void>
  readonly apply: (config: NetworkConfig.NetworkConfig, mode: Mode) => Effect.Effect<Planned, NetworkChangeError>
  /** Keep the configuration being tried, and save it. */
  readonly confirm: Effect.Effect<void, NetworkChangeError>
  /** The configuration in force, and when it is reverted if it is a try. */
  readonly current: Effect.Effect<{ readonly config: NetworkConfig.NetworkConfig; readonly revertAtMillis: number | null }>
}

interface Pending {
  readonly config: NetworkConfig.NetworkConfig
  readonly previous: NetworkConfig.NetworkConfig
  readonly revertAtMillis: number
  readonly timer: Fiber.Fiber<void>
  /** Set once the configuration is on the links: only then can a confirmation mean it works. */
  readonly applied: Ref.Ref<boolean>
}

export const make = (options: Options): Effect.Effect<
  NetworkManager,
  never,
  Scope.Scope | Links.Links | DhcpSockets.DhcpSockets | Kernel.Kernel | FileSystem.FileSystem | Path.Path
> =>
  Effect.gen(function*() {
    const scope = yield* Effect.scope
    const context = yield* Effect.context<Links.Links | DhcpSockets.DhcpSockets | FileSystem.FileSystem | Path.Path>()
    const links = yield* Links.Links
    const kernel = yield* Kernel.Kernel
    const file = options.file ?? NodeFiles.networkFile
    const log = options.log
    const initial = options.initial ?? NetworkConfig.empty
    const current = yield* Ref.make(initial)
    const pending = yield* Ref.make<Pending | undefined>(undefined)
    const lock = yield* Semaphore.make(1)
    const clients = yield* FiberMap.make<string>()
    const firstLease = new Map<string, Deferred.Deferred<void>>()
    const resolver = yield* Resolver.make(NodeFiles.resolvConf, new Map([["static", NetworkConfig.resolverEntry(initial)]]))
    const installer = yield* LeaseInstaller.make({ resolver, log, ...(options.hostnameConfigured ? {} : { setHostname: kernel.setHostname }) })

    /** The last lease of each link on the data partition, so a reboot asks for the same address (INIT-REBOOT). */
    const rememberedFile = (name: string) => `${NodeFiles.dhcpRememberedDir}/dhcp-${name}.json`
    const remember = (lease: Dhcp4Client.Lease) =>
      Effect.gen(function*() {
        const fs = yield* FileSystem.FileSystem
        const expiresAtMillis = (yield* Clock.currentTimeMillis) + lease.leaseSeconds * 1000
        yield* fs.makeDirectory(NodeFiles.dhcpRememberedDir, { recursive: true })
        // Synced: a power cut is a reboot too, and the lease is written only when granted or renewed.
        yield* AtomicFile.write(rememberedFile(lease.link), new TextEncoder().encode(`${JSON.stringify({ address: lease.address, expiresAtMillis })}\n`))
      }).pipe(Effect.provide(context), Effect.catch((e) => log(`remembering the lease: ${e.message}`)))
    const forget = (name: string) => Effect.flatMap(FileSystem.FileSystem, (fs) => Effect.ignore(fs.remove(rememberedFile(name)))).pipe(Effect.provide(context))
    const remembered = (name: string) =>
      Effect.gen(function*() {
        const fs = yield* FileSystem.FileSystem
        const saved = yield* decodeRemembered(yield* fs.readFileString(rememberedFile(name)))
        return saved.expiresAtMillis > (yield* Clock.currentTimeMillis) ? saved.address : undefined
      }).pipe(Effect.provide(context), Effect.orElseSucceed(() => undefined))

    /** A DHCP client for `name`, restarted with backoff if its link is missing; the map interrupts it (releasing the lease) on removal. */
    const startClient = (name: string) =>
      Effect.gen(function*() {
        const first = yield* Deferred.make<void>()
        firstLease.set(name, first)
        const client = Effect.gen(function*() {
          const mac = (yield* links.list).find((l) => l.name === name)?.mac
          if (mac === undefined) return yield* new Links.LinkError({ operation: "dhcp", link: name, reason: "NotFound", detail: "no such link" })
          const address = yield* remembered(name)
          return yield* Dhcp4Client.run({
            link: name,
            mac,
            ...(address === undefined ? {} : { remembered: address }),
            bound: (lease, previous) => Effect.andThen(Effect.andThen(installer.bound(lease, previous), remember(lease)), Deferred.succeed(first, undefined)),
            // A released lease is remembered still (the next boot asks for it again); one the server ended is not.
            lost: (lease, reason) => Effect.andThen(installer.lost(lease, reason), reason === "released" ? Effect.void : forget(lease.link)),
            log: (line) => log(`${name}: ${line}`)
          })
        }).pipe(
          Effect.tapError((error) => log(`${name}: ${error.message}; trying again`)),
          Effect.retry(Schedule.min([Schedule.exponential("1 second"), Schedule.spaced("1 minute")])),
          Effect.provide(context)
        )
        yield* FiberMap.run(clients, name)(client)
      })

    const stopClient = (name: string) =>
      Effect.gen(function*() {
        firstLease.delete(name)
        yield* FiberMap.remove(clients, name)
      })

    /** Moves the node from `before` to `after`; a link that fails is logged and the rest still changes. */
    const transition = (before: NetworkConfig.NetworkConfig, after: NetworkConfig.NetworkConfig) =>
      Effect.gen(function*() {
        const failures: Array<string> = []
        const attempt = <E extends { readonly message: string }>(effect: Effect.Effect<unknown, E, Links.Links>) =>
          effect.pipe(
            Effect.provide(context),
            Effect.catch((error) => Effect.andThen(Effect.sync(() => failures.push(error.message)), log(error.message)))
          )
        for (const old of before.interfaces) {
          const next = after.interfaces.find((i) => i.name === old.name)
          if (old.dhcp4 === true && next?.dhcp4 !== true) yield* stopClient(old.name)
          yield* attempt(StaticConfig.withdraw(old, next))
        }
        yield* attempt(StaticConfig.withdrawVirtual(before, after))
        yield* attempt(Effect.flatMap(StaticConfig.createVirtual(after), (lines) => Effect.forEach(lines, log, { discard: true })))
        for (const next of after.interfaces) {
          yield* attempt(Effect.flatMap(StaticConfig.apply(next), (line) => log(line)))
          const old = before.interfaces.find((i) => i.name === next.name)
          if (next.dhcp4 === true && old?.dhcp4 !== true) yield* startClient(next.name)
        }
        yield* attempt(resolver.set("static", NetworkConfig.resolverEntry(after)))
        yield* Ref.set(current, after)
        return failures
      })

    const save = (config: NetworkConfig.NetworkConfig) =>
      Effect.gen(function*() {
        const fs = yield* FileSystem.FileSystem
        const path = yield* Path.Path
        yield* fs.makeDirectory(path.dirname(file), { recursive: true })
        yield* AtomicFile.write(file, new TextEncoder().encode(NetworkConfig.encode(config)))
      }).pipe(
        Effect.provide(context),
        Effect.mapError((error) => new NetworkChangeError({ operation: "apply", reason: `saving ${file}: ${error.message}` }))
      )

    const revert = Semaphore.withPermit(lock, Effect.gen(function*() {
      const tried = yield* Ref.get(pending)
      if (tried === undefined) return
      yield* Ref.set(pending, undefined)
      yield* log("the network configuration on trial was not confirmed in time; putting the previous one back")
      yield* transition(yield* Ref.get(current), tried.previous)
    }))

    const delay = Duration.millis(options.applyDelayMillis ?? 1000)

    const manager: NetworkManager = {
      start: (waitMillis) =>
        Effect.gen(function*() {
          for (const name of NetworkConfig.dhcpLinks(initial)) yield* startClient(name)
          yield* Effect.forEach([...firstLease], ([name, first]) =>
            Deferred.await(first).pipe(
              Effect.timeoutOption(Duration.millis(waitMillis)),
              Effect.flatMap((got) => Option.isNone(got) ? log(`${name}: no DHCP lease within ${waitMillis / 1000} s; booting on, the client keeps asking`) : Effect.void)
            ), { concurrency: "unbounded", discard: true })
        }),

      apply: (config, mode) =>
        Semaphore.withPermit(lock, Effect.gen(function*() {
          const tried = yield* Ref.get(pending)
          if (tried !== undefined && mode._tag === "try") {
            return yield* new NetworkChangeError({ operation: "apply", reason: "a configuration is on trial already: confirm it, or wait for it to be reverted" })
          }
          const before = yield* Ref.get(current)
          const changes = StaticConfig.describeChanges(before, config)
          const now = yield* Clock.currentTimeMillis
          if (mode._tag === "apply") {
            yield* save(config)
            if (tried !== undefined) {
              yield* Fiber.interrupt(tried.timer)
              yield* Ref.set(pending, undefined)
            }
          }
          const revertAtMillis = mode._tag === "try" ? now + Duration.toMillis(delay) + mode.timeoutMillis : null
          const applied = yield* Ref.make(false)
          // Applied after the answer has left, on a fiber of the manager's scope (the caller's may end first).
          const change = Semaphore.withPermit(lock, Effect.gen(function*() {
            const failures = yield* transition(yield* Ref.get(current), config)
            yield* Ref.set(applied, true)
            yield* log(`network configuration ${mode._tag === "try" ? "on trial" : "applied"}: ${changes.join("; ") || "no changes"}${failures.length > 0 ? ` (${failures.length} failed)` : ""}`)
          }))
          yield* Effect.forkIn(Effect.delay(change, delay), scope)
          if (mode._tag === "try") {
            const timer = yield* Effect.forkIn(Effect.delay(revert, Duration.sum(delay, Duration.millis(mode.timeoutMillis))), scope)
            yield* Ref.set(pending, { config, previous: before, revertAtMillis: revertAtMillis!, timer, applied })
          }
          return { changes, revertAtMillis }
        })),

      confirm: Semaphore.withPermit(lock, Effect.gen(function*() {
        const tried = yield* Ref.get(pending)
        if (tried === undefined) return yield* new NetworkChangeError({ operation: "confirm", reason: "no network configuration is on trial" })
        if (!(yield* Ref.get(tried.applied))) {
          return yield* new NetworkChangeError({ operation: "confirm", reason: "the configuration on trial is not on the links yet; confirm once it is" })
        }
        yield* save(tried.config).pipe(Effect.mapError((e) => new NetworkChangeError({ operation: "confirm", reason: e.reason })))
        yield* Fiber.interrupt(tried.timer)
        yield* Ref.set(pending, undefined)
        yield* log("the network configuration on trial is confirmed and saved")
      })),

      current: Effect.gen(function*() {
        const tried = yield* Ref.get(pending)
        return { config: yield* Ref.get(current), revertAtMillis: tried?.revertAtMillis ?? null }
      })
    }
    return manager
  })
