/**
 * keel-init's program, over the platform contracts (so the simulator can run it too).
 *
 * It starts the supervision tree, serves the control socket, reaps orphaned zombies (on SIGCHLD and
 * on a timer, skipping what Node spawned), and waits for a reason to stop: SIGINT (Ctrl-Alt-Del) or
 * SIGTERM asks for a reboot, SIGPWR for a poweroff, the control socket for either with a reason, and
 * the root supervision group giving up is a reboot too. It then shuts down in order: services in
 * reverse start order (SIGTERM, grace, SIGKILL); on a node it records why in a bounded journal on the
 * data partition, unmounts it, syncs, and calls reboot(2) or poweroff.
 *
 * `runGuarded` is the PID 1 contract: it never returns on a node, and a defect anywhere ends in an
 * emergency reboot, never in PID 1 exiting (which would panic the kernel).
 */
import { Cause, Clock, Console, Deferred, Duration, Effect, FileSystem, Layer, Option, Path, PubSub, Ref, Schema, Stream } from "effect"
import type { HttpClient } from "effect/http"
import type { ChildProcessSpawner } from "effect/process"
import { SocketServer } from "effect/socket"
import type { InitControl } from "@keelos/api"
import { Slot } from "@keelos/domain"
import { NetworkManager } from "@keelos/network"
import { type BlockDevice, type DhcpSockets, type Kernel, type Links, Mounts, type Volumes, type Watchdog } from "@keelos/platform"
import { Journal } from "@keelos/store"
import { ControlSocket, Power, type Reaper, Signals, type Sockets } from "@keelos/platform"
import { Supervisor } from "@keelos/supervisor"
import * as BootGuard from "./BootGuard.ts"
import * as ControlServer from "./ControlServer.ts"
import * as EarlyBoot from "./EarlyBoot.ts"
import * as LogFiles from "./LogFiles.ts"
import * as OrphanReaper from "./OrphanReaper.ts"
import type { InitConfig } from "./InitConfig.ts"
import * as TrackedSpawner from "./TrackedSpawner.ts"
import * as WatchdogPetter from "./WatchdogPetter.ts"

export interface Outcome extends ControlServer.PowerRequest {
  /** Orphans reaped while running. */
  readonly reaped: number
}

type Requirements =
  | ChildProcessSpawner.ChildProcessSpawner
  | Sockets.Sockets
  | HttpClient.HttpClient
  | Reaper.Reaper
  | Signals.Signals
  | Power.Power
  | ControlSocket.ControlSocket
  | Mounts.Mounts
  | Kernel.Kernel
  | Links.Links
  | DhcpSockets.DhcpSockets
  | BlockDevice.BlockDevices
  | Volumes.Volumes
  | FileSystem.FileSystem
  | Path.Path
  | Watchdog.Watchdog

const log = (line: string) => Console.log(`keel-init: ${line}`)

const fromSignal = (signal: Signals.Signal): ControlServer.PowerRequest =>
  signal === "SIGPWR"
    ? { action: "poweroff", reason: "SIGPWR: power failure" }
    : { action: "reboot", reason: signal === "SIGINT" ? "SIGINT: Ctrl-Alt-Del" : `${signal} received` }

/** Runs until a stop is requested and the services are down; returns why it stopped. */
export const run = (config: InitConfig): Effect.Effect<Outcome, never, Requirements> =>
  Effect.scoped(Effect.gen(function*() {
    // On a node, keel-init owns the network; in host mode the host's is not ours to change.
    let network: NetworkManager.NetworkManager | undefined
    let serviceModules: Effect.Effect<void> = Effect.void
    if (config.earlyBoot !== undefined) {
      // Without its data partition the node still boots, so the agent can report why.
      const report = yield* EarlyBoot.run(config.earlyBoot).pipe(
        Effect.catchTag("EarlyBootError", (error) => (error.step === "data" ? Effect.as(log(`${error.message}; continuing without it`), undefined) : Effect.die(error)))
      )
      serviceModules = report?.serviceModules ?? Effect.void
      network = yield* NetworkManager.make({
        initial: report?.networkConfig,
        hostnameConfigured: report?.hostnameConfigured ?? false,
        log: (line) => log(`network: ${line}`)
      })
      yield* network.start(config.earlyBoot.dhcpWaitMillis ?? 10_000)
    }
    const guard = config.bootGuard === undefined
      ? undefined
      : yield* BootGuard.begin(config.bootGuard).pipe(
        Effect.tapError((error) => log(`boot guard: ${error.message}; booting normally`)),
        Effect.option,
        Effect.map(Option.getOrUndefined)
      )
    const maintenance = guard?.decision.maintenance === true
    const services = maintenance ? BootGuard.maintenanceTree(config.services, config.bootGuard!.maintenanceServices) : config.services
    if (maintenance) {
      yield* log(`MAINTENANCE MODE: slot ${guard!.decision.slot} came up unstable ${guard!.decision.unstableBefore} boots in a row; only ${config.bootGuard!.maintenanceServices.join(", ")} run. Roll back or update through the agent.`)
      yield* Effect.ignore(Effect.flatMap(FileSystem.FileSystem, (fs) => fs.writeFileString(BootGuard.maintenanceFlag, `${guard!.decision.slot} ${guard!.decision.unstableBefore}\n`)))
    }
    const context = yield* Layer.build(TrackedSpawner.layer)
    const signals = yield* Signals.Signals
    const events = yield* PubSub.sliding<InitControl.SupervisorEvent>(1024)
    const logs = yield* PubSub.sliding<InitControl.LogLine>(4096)
    const power = yield* Deferred.make<ControlServer.PowerRequest>()
    const reaped = yield* Ref.make(0)

    const files = config.logs === undefined ? undefined : yield* LogFiles.make(config.logs)
    // The services that need the modules early boot left loading wait for them; the agent does not.
    const modulesNotNeededBy = new Set(config.earlyBoot?.serviceModules?.notNeededBy ?? [])
    const supervisor = yield* Supervisor.make(services, {
      startGate: (child) => (modulesNotNeededBy.has(child) ? Effect.void : serviceModules),
      onEvent: (event) => PubSub.publish(events, event),
      onLogLine: (service, line) =>
        Effect.andThen(PubSub.publish(logs, { ...line, service }), files === undefined ? Effect.void : files.append(service, line))
    }).pipe(Effect.provide(context), Effect.orDie)
    yield* log(`supervising ${services.children.length} children; control socket ${config.controlSocket}`)
    if (guard !== undefined && !maintenance) {
      const allRunning = Effect.map(supervisor.statuses, (all) => all.every((s) => s.kind === "group" || s.state === "running" || s.state === "absent"))
      yield* Effect.forkScoped(BootGuard.awaitStable(allRunning, config.bootGuard!.stableAfterMillis).pipe(
        Effect.andThen(guard.markStable),
        Effect.andThen(log("boot is stable")),
        Effect.catch((error: { readonly message: string }) => log(`boot guard: ${error.message}`))
      ))
    }
    // The watchdog's driver (softdog) may be one of the service modules.
    if (config.watchdog !== undefined) yield* Effect.forkScoped(Effect.andThen(serviceModules, WatchdogPetter.run(supervisor.ping, config.watchdog)))

    // After early boot: the socket lives on /run, which early boot mounts.
    const server = yield* Effect.flatMap(ControlSocket.ControlSocket, (c) => c.listen(config.controlSocket)).pipe(Effect.orDie)
    yield* Layer.build(ControlServer.layer({ supervisor, events, logs, power, network }).pipe(Layer.provide(Layer.succeed(SocketServer.SocketServer)(server))))

    const orphans = yield* OrphanReaper.make
    const reap = Effect.gen(function*() {
      const own = yield* TrackedSpawner.SpawnedPids.use((s) => s.current).pipe(Effect.provide(context))
      const count = yield* orphans.scan(own)
      if (count > 0) yield* Ref.update(reaped, (n) => n + count)
    })
    const onChild = signals.receive(["SIGCHLD"]).pipe(Stream.runForEach(() => Effect.andThen(reap, Effect.delay(reap, Duration.millis(OrphanReaper.graceMillis)))))
    const periodically = Effect.forever(Effect.andThen(Effect.sleep(Duration.millis(config.reapIntervalMillis)), reap))
    yield* Effect.forkScoped(Effect.all([onChild, periodically], { concurrency: 2, discard: true }))

    const bySignal = signals.receive(["SIGTERM", "SIGINT", "SIGPWR"]).pipe(
      Stream.runHead,
      Effect.map((signal) => Option.match(signal, { onNone: () => ({ action: "reboot" as const, reason: "signal stream ended" }), onSome: fromSignal }))
    )
    const byGivingUp = Effect.flip(supervisor.failure).pipe(
      Effect.map((error): ControlServer.PowerRequest => ({ action: "reboot", reason: `supervision gave up: ${error.message}` }))
    )
    const request = yield* Effect.raceAll([bySignal, Deferred.await(power), byGivingUp])
    yield* log(`${request.action} requested: ${request.reason}; stopping services`)
    yield* supervisor.shutdown
    yield* log("services stopped")
    return { ...request, reaped: yield* Ref.get(reaped) }
  }))

/** Where the reasons for the last reboots and poweroffs are kept, newest last. */
export const powerJournalPath = `${Slot.dataMountPoint}/init/power.json`

const PowerRecord = Schema.Struct({ atMillis: Schema.Number, action: Schema.String, reason: Schema.String })

/** Writes down why the node goes down, then unmounts the ESP and the data partition; best effort, never blocks power-off. */
const recordAndUnmount = (outcome: Outcome) =>
  Effect.gen(function*() {
    const atMillis = yield* Clock.currentTimeMillis
    const journal = yield* Journal.make(PowerRecord, powerJournalPath, 32)
    yield* journal.append({ atMillis, action: outcome.action, reason: outcome.reason })
    const mounts = yield* Mounts.Mounts
    yield* Effect.ignore(mounts.unmount(Slot.espMountPoint))
    yield* mounts.unmount(Slot.dataMountPoint)
  }).pipe(Effect.catch((error: { readonly message: string }) => log(`before ${outcome.action}: ${error.message}`)))

/**
 * The whole of PID 1: run, then switch off; any defect ends in an emergency reboot. In host mode
 * the outcome is returned instead of switching off.
 */
export const runGuarded = (config: InitConfig): Effect.Effect<Outcome, never, Requirements> =>
  run(config).pipe(
    Effect.catchCause((cause) =>
      Effect.gen(function*() {
        const reason = `defect in keel-init: ${String(Cause.squash(cause)).split("\n")[0]}`
        yield* Console.error(`keel-init: ${reason}; emergency reboot`)
        return { action: "reboot" as const, reason, reaped: 0 }
      })
    ),
    Effect.tap((outcome) =>
      config.mode === "host"
        ? Effect.void
        : Effect.gen(function*() {
          const power = yield* Power.Power
          if (config.earlyBoot !== undefined) yield* recordAndUnmount(outcome)
          yield* power.sync
          yield* log(`${outcome.action} now`)
          return yield* Effect.ignore(power.switchOff(outcome.action))
        })
    )
  )
