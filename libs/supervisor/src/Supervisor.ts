/**
 * OTP supervision on Effect fibers (DESIGN §2).
 *
 * A group is an actor: one fiber owns the group's state and takes messages from a bounded mailbox,
 * in order. Everything slow runs in fibers of its own that report back through the mailbox: a
 * starter waits for the child's dependencies, spawns it and waits for it to be ready; a watcher
 * waits for its exit; a timer waits out the backoff. So state changes only in the loop, and a
 * child stuck starting never blocks the group.
 *
 * On an exit the group applies the child's restart type (permanent, transient, temporary), records
 * the restart in its intensity window (more than `maxRestarts` within `periodMillis` escalates: the
 * group stops its children in reverse order and fails, which its parent sees as the group's abnormal
 * exit), stops the siblings its strategy names (one_for_one, one_for_all, rest_for_one), waits out
 * the backoff and starts them again in order. Shutdown goes in reverse start order: SIGTERM, the
 * grace period, then SIGKILL.
 *
 * Every child keeps a bounded event journal and a bounded ring of its output lines.
 */
import { Cause, Clock, Deferred, Duration, Effect, Exit, Fiber, Option, Queue, Scope, Stream } from "effect"
import { HttpClient } from "effect/http"
import { ChildProcess, ChildProcessSpawner } from "effect/process"
import type { ServiceSpec } from "@keelos/domain"
import { Sockets } from "@keelos/platform"
import * as Backoff from "./Backoff.ts"
import * as RestartIntensity from "./RestartIntensity.ts"
import { Ring } from "./Ring.ts"
import * as Strategy from "./Strategy.ts"
import { IntensityExceeded, UnknownChild } from "./SupervisorError.ts"
import { validate } from "./Validate.ts"

export type ChildState = "waiting" | "starting" | "running" | "backoff" | "stopping" | "stopped" | "exited" | "absent" | "failed"
export type Health = "unknown" | "healthy" | "unhealthy"

export interface ExitInfo {
  /** Exit code; signals are 128 + the signal number; null when the child never ran. */
  readonly code: number | null
  readonly reason: string
  readonly atMillis: number
}

export interface ChildStatus {
  readonly name: string
  readonly kind: "service" | "group"
  readonly group: string
  readonly state: ChildState
  readonly health: Health
  readonly pid: number | null
  readonly restarts: number
  readonly startedAtMillis: number | null
  readonly lastExit: ExitInfo | null
}

export type SupervisorEvent =
  | { readonly _tag: "Started"; readonly atMillis: number; readonly child: string; readonly pid: number | null }
  | { readonly _tag: "Ready"; readonly atMillis: number; readonly child: string }
  | { readonly _tag: "Exited"; readonly atMillis: number; readonly child: string; readonly code: number | null; readonly reason: string }
  | { readonly _tag: "Restarting"; readonly atMillis: number; readonly child: string; readonly delayMillis: number }
  | { readonly _tag: "Stopped"; readonly atMillis: number; readonly child: string }
  | { readonly _tag: "Absent"; readonly atMillis: number; readonly child: string }
  | { readonly _tag: "Escalated"; readonly atMillis: number; readonly child: string; readonly reason: string }

export interface LogLine {
  readonly atMillis: number
  readonly stream: "stdout" | "stderr"
  readonly line: string
}

export interface Options {
  /** Output lines kept per child. */
  readonly logLines?: number
  /** Events kept per child. */
  readonly journalEvents?: number
  /** How often readiness and dependencies are polled. */
  readonly pollMillis?: number
  /** Messages a group's mailbox holds before senders wait. */
  readonly mailbox?: number
  /** Called for every output line (persisting to rotated files). */
  readonly onLogLine?: (child: string, line: LogLine) => Effect.Effect<void>
  /** Called for every event (a node-wide journal, metrics). */
  readonly onEvent?: (event: SupervisorEvent) => Effect.Effect<void>
  /**
   * Awaited before a child starts, after its dependencies: keel-init holds the services that need
   * kernel modules early boot leaves loading (overlay, br_netfilter) while the agent starts at once.
   */
  readonly startGate?: (child: string) => Effect.Effect<void>
}

export interface Supervisor {
  /** Every child of the tree, depth first in start order. */
  readonly statuses: Effect.Effect<ReadonlyArray<ChildStatus>>
  readonly start: (name: string) => Effect.Effect<void, UnknownChild>
  readonly stop: (name: string) => Effect.Effect<void, UnknownChild>
  readonly restart: (name: string) => Effect.Effect<void, UnknownChild>
  /** Sends `signal` to a running service; false when it has no process now. The supervisor then handles its exit as any other. */
  readonly signal: (name: string, signal: Signal) => Effect.Effect<boolean, UnknownChild>
  readonly journal: (name: string) => Effect.Effect<ReadonlyArray<SupervisorEvent>, UnknownChild>
  readonly logs: (name: string) => Effect.Effect<ReadonlyArray<LogLine>, UnknownChild>
  /** Fails when the root group gives up. */
  readonly failure: Effect.Effect<never, IntensityExceeded>
  /** Stops everything in reverse start order and waits for it. */
  readonly shutdown: Effect.Effect<void>
  /** Completes when the root group's loop has processed a message: the tree is not wedged. */
  readonly ping: Effect.Effect<void>
}

type Requirements = ChildProcessSpawner.ChildProcessSpawner | Sockets.Sockets | HttpClient.HttpClient

interface Running {
  readonly pid: number | null
  readonly stop: Effect.Effect<void>
  /** Delivers a signal without waiting for what the process does with it. */
  readonly signal?: (signal: Signal) => Effect.Effect<void>
  readonly group?: Group
}

/** Why a process ended when its exit code could not be read: the signal that killed it, when the platform says. */
export const exitReason = (error: unknown): string => {
  const text = `${(error as { message?: unknown })?.message ?? ""} ${String((error as { cause?: { message?: unknown } })?.cause?.message ?? "")}`
  const signal = /signal:? '?(SIG[A-Z0-9]+)/.exec(text)?.[1]
  return signal === undefined ? "lost track of the process" : `killed by ${signal}`
}

/** The signals an operator may send to a service. */
export const signals = ["SIGTERM", "SIGKILL", "SIGINT", "SIGQUIT", "SIGHUP", "SIGUSR1", "SIGUSR2"] as const
export type Signal = (typeof signals)[number]

interface Entry {
  readonly spec: ServiceSpec.ChildSpec
  readonly owner: Group
  state: ChildState
  health: Health
  generation: number
  restarts: number
  consecutive: number
  startedAt: number | null
  lastExit: ExitInfo | null
  task: Fiber.Fiber<void> | undefined
  running: Running | undefined
  readonly journal: Ring<SupervisorEvent>
  readonly logs: Ring<LogLine>
}

type Message =
  | { readonly _tag: "Started"; readonly name: string; readonly generation: number; readonly running: Running }
  | { readonly _tag: "Ready"; readonly name: string; readonly generation: number }
  | { readonly _tag: "Absent"; readonly name: string; readonly generation: number }
  | { readonly _tag: "Exited"; readonly name: string; readonly generation: number; readonly code: number | null; readonly reason: string }
  | { readonly _tag: "RestartDue"; readonly names: ReadonlyArray<string> }
  | { readonly _tag: "Control"; readonly op: "start" | "stop" | "restart"; readonly name: string; readonly done: Deferred.Deferred<void> }
  | { readonly _tag: "StopAll"; readonly done: Deferred.Deferred<void> }
  | { readonly _tag: "Ping"; readonly done: Deferred.Deferred<void> }

interface Group {
  readonly spec: ServiceSpec.GroupSpec
  readonly path: string
  readonly entries: ReadonlyArray<Entry>
  readonly mailbox: Queue.Queue<Message>
  readonly failed: Deferred.Deferred<never, IntensityExceeded>
  window: ReadonlyArray<number>
  dead: boolean
}

const monotonicMillis = Effect.map(Clock.monotonicTimeNanos, (n) => Number(n / 1_000_000n))

/** Builds and starts the tree under `root`; everything stops when the scope closes. */
export const make = Effect.fn("Supervisor.make")(function*(root: ServiceSpec.GroupSpec, options: Options = {}) {
  const invalid = validate(root)
  if (invalid !== undefined) return yield* invalid
  const context = yield* Effect.context<Requirements>()
  const spawner = yield* ChildProcessSpawner.ChildProcessSpawner
  const sockets = yield* Sockets.Sockets
  const pollMillis = options.pollMillis ?? 100
  const byName = new Map<string, Entry>()

  const now = Clock.currentTimeMillis

  const record = (entry: Entry, event: SupervisorEvent) =>
    Effect.suspend(() => {
      entry.journal.push(event)
      return options.onEvent ? options.onEvent(event) : Effect.void
    })

  const send = (group: Group, message: Message) => Effect.asVoid(Queue.offer(group.mailbox, message))

  const isReady = (entry: Entry) => entry.state === "absent" || (entry.state === "running" && entry.health === "healthy")

  const waitUntil = (condition: () => boolean): Effect.Effect<void> =>
    Effect.suspend(() => (condition() ? Effect.void : Effect.andThen(Effect.sleep(Duration.millis(pollMillis)), waitUntil(condition))))

  const waitForDependencies = (entry: Entry) =>
    waitUntil(() => entry.spec.dependsOn.every((dep) => {
      const sibling = byName.get(dep)
      return sibling === undefined || isReady(sibling)
    })).pipe(Effect.andThen(options.startGate === undefined ? Effect.void : options.startGate(entry.spec.name)))

  /** `announced`: whether this start of the service has printed the line a LogLine readiness waits for. */
  const probe = (readiness: ServiceSpec.Readiness, announced: () => boolean): Effect.Effect<boolean> => {
    switch (readiness._tag) {
      case "ProcessAlive":
        return Effect.succeed(true)
      case "UnixSocket":
        return sockets.canConnect(readiness.path)
      case "TcpConnect":
        return sockets.canConnectTcp(readiness.host, readiness.port)
      case "LogLine":
        return Effect.sync(announced)
      case "HttpGet":
        return HttpClient.get(readiness.url).pipe(
          Effect.map((response) => response.status === readiness.expectStatus),
          Effect.catch(() => Effect.succeed(false)),
          Effect.scoped,
          Effect.provide(context)
        )
    }
  }

  const pollReady = (readiness: ServiceSpec.Readiness, announced: () => boolean): Effect.Effect<void> =>
    Effect.flatMap(probe(readiness, announced), (ready) =>
      ready ? Effect.void : Effect.andThen(Effect.sleep(Duration.millis(pollMillis)), pollReady(readiness, announced)))

  const waitReady = (readiness: ServiceSpec.Readiness, timeoutMillis: number, announced: () => boolean) =>
    pollReady(readiness, announced).pipe(Effect.timeoutOption(Duration.millis(timeoutMillis)), Effect.map(Option.isSome))

  /** Keeps a start's output lines; `onLine` sees each (a LogLine readiness watching for its line). */
  const capture = (entry: Entry, stream: "stdout" | "stderr", bytes: Stream.Stream<Uint8Array, unknown>, onLine: (line: string) => void) =>
    bytes.pipe(
      Stream.decodeText(),
      Stream.splitLines,
      Stream.runForEach((line) =>
        Effect.flatMap(now, (atMillis) => {
          onLine(line)
          const logLine: LogLine = { atMillis, stream, line }
          entry.logs.push(logLine)
          return options.onLogLine ? options.onLogLine(entry.spec.name, logLine) : Effect.void
        })),
      Effect.ignore
    )

  /** The starter of a service: dependencies, spawn, watcher, readiness. Reports to the mailbox. */
  const startService = (entry: Entry, spec: ServiceSpec.ServiceSpec, generation: number) =>
    Effect.gen(function*() {
      const group = entry.owner
      yield* waitForDependencies(entry)
      const scope = yield* Scope.make()
      const command = ChildProcess.make(spec.command, spec.args, {
        env: spec.env,
        extendEnv: false,
        killSignal: "SIGTERM",
        forceKillAfter: Duration.millis(spec.shutdownGraceMillis),
        // A daemon reads nothing from init: /dev/null, not a pipe nobody writes to.
        stdin: "ignore",
        stdout: "pipe",
        stderr: "pipe"
      })
      const spawned = yield* Effect.exit(Scope.provide(scope)(spawner.spawn(command)))
      if (Exit.isFailure(spawned)) {
        yield* Scope.close(scope, Exit.void)
        const error = spawned.cause.reasons.find((r) => r._tag === "Fail")
        const notFound = error !== undefined && error._tag === "Fail" && (error.error as { reason?: { _tag?: string } }).reason?._tag === "NotFound"
        if (notFound && spec.optional) return yield* send(group, { _tag: "Absent", name: spec.name, generation })
        return yield* send(group, { _tag: "Exited", name: spec.name, generation, code: null, reason: notFound ? "not found in the image" : "could not be started" })
      }
      const handle = spawned.value
      const readiness = spec.readiness
      let announced = false
      const onLine = readiness._tag === "LogLine"
        ? (line: string) => void (announced ||= readiness.containing.some((text) => line.includes(text)))
        : () => {}
      yield* Effect.forkIn(capture(entry, "stdout", handle.stdout, onLine), scope)
      yield* Effect.forkIn(capture(entry, "stderr", handle.stderr, onLine), scope)
      yield* Effect.forkIn(
        handle.exitCode.pipe(
          Effect.matchEffect({
            onSuccess: (code) => send(group, { _tag: "Exited", name: spec.name, generation, code, reason: code === 0 ? "exited" : `exited with ${code}` }),
            onFailure: (error) => send(group, { _tag: "Exited", name: spec.name, generation, code: null, reason: exitReason(error) })
          })
        ),
        scope
      )
      const signal = (which: Signal) => Effect.asVoid(Effect.forkIn(Effect.ignore(handle.kill({ killSignal: which })), scope))
      yield* send(group, { _tag: "Started", name: spec.name, generation, running: { pid: handle.pid, stop: Scope.close(scope, Exit.void), signal } })
      const ready = yield* waitReady(readiness, spec.readyTimeoutMillis, () => announced)
      if (ready) return yield* send(group, { _tag: "Ready", name: spec.name, generation })
      yield* send(group, { _tag: "Exited", name: spec.name, generation, code: null, reason: `not ready within ${spec.readyTimeoutMillis} ms` })
    })

  /** The starter of a nested group: dependencies, then the group's own actor. */
  const startGroup = (entry: Entry, spec: ServiceSpec.GroupSpec, generation: number) =>
    Effect.gen(function*() {
      const parent = entry.owner
      yield* waitForDependencies(entry)
      const scope = yield* Scope.make()
      const child = yield* Scope.provide(scope)(makeGroup(spec, `${parent.path}/${spec.name}`))
      yield* Effect.forkIn(
        Effect.flip(Deferred.await(child.failed)).pipe(
          Effect.flatMap((error) => send(parent, { _tag: "Exited", name: spec.name, generation, code: null, reason: error.message }))
        ),
        scope
      )
      const stop = Effect.andThen(stopAll(child), Scope.close(scope, Exit.void))
      yield* send(parent, { _tag: "Started", name: spec.name, generation, running: { pid: null, stop, group: child } })
      yield* waitUntil(() => child.dead || child.entries.every((e) => isReady(e) || e.state === "exited"))
      if (!child.dead) yield* send(parent, { _tag: "Ready", name: spec.name, generation })
    })

  const launch = (entry: Entry) =>
    Effect.gen(function*() {
      entry.generation++
      entry.state = "starting"
      entry.health = "unknown"
      const generation = entry.generation
      const starter = entry.spec.kind === "service" ? startService(entry, entry.spec, generation) : startGroup(entry, entry.spec, generation)
      // A defect in a starter is a failed start, never a silently vanished child.
      const guarded = starter.pipe(
        Effect.catchCause((cause) =>
          Cause.hasInterruptsOnly(cause)
            ? Effect.void
            : send(entry.owner, { _tag: "Exited", name: entry.spec.name, generation, code: null, reason: `start failed: ${Cause.squash(cause)}` })
        )
      )
      entry.task = yield* Effect.forkDetach(guarded)
    })

  /** Stops one child and waits for it: SIGTERM, grace, SIGKILL (or the group's children in reverse). */
  const stopEntry = (entry: Entry, final: ChildState) =>
    Effect.gen(function*() {
      entry.generation++ // whatever the old incarnation still reports is stale now
      if (entry.task !== undefined) yield* Fiber.interrupt(entry.task)
      entry.task = undefined
      const running = entry.running
      entry.running = undefined
      if (running !== undefined) {
        entry.state = "stopping"
        yield* running.stop
        yield* record(entry, { _tag: "Stopped", atMillis: yield* now, child: entry.spec.name })
      }
      entry.state = final
      entry.health = "unknown"
    })

  const stopAll = (group: Group): Effect.Effect<void> =>
    Effect.gen(function*() {
      if (group.dead) return
      const done = yield* Deferred.make<void>()
      yield* send(group, { _tag: "StopAll", done })
      yield* Deferred.await(done)
    })

  const escalate = (group: Group, entry: Entry) =>
    Effect.gen(function*() {
      for (const other of [...group.entries].reverse()) yield* stopEntry(other, "stopped")
      entry.state = "failed"
      const error = new IntensityExceeded({ group: group.path, child: entry.spec.name, restarts: group.window.length, periodMillis: group.spec.periodMillis })
      yield* record(entry, { _tag: "Escalated", atMillis: yield* now, child: entry.spec.name, reason: error.message })
      group.dead = true
      yield* Deferred.fail(group.failed, error)
    })

  const onExit = (group: Group, entry: Entry, code: number | null, reason: string) =>
    Effect.gen(function*() {
      const at = yield* now
      const monotonic = yield* monotonicMillis
      const ran = entry.startedAt === null ? 0 : monotonic - entry.startedAt
      entry.generation++
      entry.task = undefined
      entry.running = undefined
      entry.health = "unhealthy"
      entry.lastExit = { code, reason, atMillis: at }
      yield* record(entry, { _tag: "Exited", atMillis: at, child: entry.spec.name, code, reason })
      const abnormal = code !== 0
      const restart = entry.spec.restart === "permanent" || (entry.spec.restart === "transient" && abnormal)
      if (!restart) {
        entry.state = "exited"
        return
      }
      const verdict = RestartIntensity.record(group.window, monotonic, group.spec.maxRestarts, group.spec.periodMillis)
      group.window = verdict.window
      if (verdict.exceeded) return yield* escalate(group, entry)
      entry.consecutive = Backoff.consecutiveAfter(entry.consecutive, ran, entry.spec.backoff)
      const delay = Backoff.delayMillis(entry.consecutive, entry.spec.backoff)
      const names = Strategy.affected(group.spec.strategy, group.entries.map((e) => e.spec.name as string), entry.spec.name)
      const affected = group.entries.filter((e) => names.includes(e.spec.name) && e.state !== "absent")
      for (const other of [...affected].reverse()) if (other !== entry) yield* stopEntry(other, "backoff")
      for (const e of affected) {
        e.state = "backoff"
        e.restarts++
        yield* record(e, { _tag: "Restarting", atMillis: at, child: e.spec.name, delayMillis: delay })
      }
      if (delay === 0) {
        for (const e of affected) yield* launch(e)
        return
      }
      entry.task = yield* Effect.forkDetach(
        Effect.andThen(Effect.sleep(Duration.millis(delay)), send(group, { _tag: "RestartDue", names: affected.map((e) => e.spec.name) }))
      )
    })

  const handle = (group: Group, message: Message): Effect.Effect<void> =>
    Effect.gen(function*() {
      switch (message._tag) {
        case "Started": {
          const entry = byName.get(message.name)!
          if (message.generation !== entry.generation) return yield* message.running.stop
          entry.running = message.running
          entry.startedAt = yield* monotonicMillis
          yield* record(entry, { _tag: "Started", atMillis: yield* now, child: entry.spec.name, pid: message.running.pid })
          return
        }
        case "Ready": {
          const entry = byName.get(message.name)!
          if (message.generation !== entry.generation) return
          entry.state = "running"
          entry.health = "healthy"
          yield* record(entry, { _tag: "Ready", atMillis: yield* now, child: entry.spec.name })
          return
        }
        case "Absent": {
          const entry = byName.get(message.name)!
          if (message.generation !== entry.generation) return
          entry.state = "absent"
          entry.task = undefined
          yield* record(entry, { _tag: "Absent", atMillis: yield* now, child: entry.spec.name })
          return
        }
        case "Exited": {
          const entry = byName.get(message.name)!
          if (message.generation !== entry.generation) return
          if (entry.running !== undefined && message.code === null) {
            // Started but never became ready (or the process was lost): make sure it is gone.
            const running = entry.running
            entry.running = undefined
            yield* running.stop
          }
          return yield* onExit(group, entry, message.code, message.reason)
        }
        case "RestartDue": {
          for (const entry of group.entries) {
            if (message.names.includes(entry.spec.name) && entry.state === "backoff") yield* launch(entry)
          }
          return
        }
        case "Control": {
          const entry = byName.get(message.name)!
          if (message.op === "stop") yield* stopEntry(entry, "stopped")
          else if (message.op === "restart") {
            yield* stopEntry(entry, "stopped")
            yield* launch(entry)
          } else if (entry.state === "stopped" || entry.state === "exited" || entry.state === "failed") {
            entry.consecutive = 0
            yield* launch(entry)
          }
          yield* Deferred.succeed(message.done, undefined)
          return
        }
        case "Ping": {
          yield* Deferred.succeed(message.done, undefined)
          return
        }
        case "StopAll": {
          for (const entry of [...group.entries].reverse()) yield* stopEntry(entry, "stopped")
          group.dead = true
          yield* Deferred.succeed(message.done, undefined)
          return
        }
      }
    })

  const makeGroup = (spec: ServiceSpec.GroupSpec, path: string): Effect.Effect<Group, never, Scope.Scope> =>
    Effect.gen(function*() {
      const group: Group = {
        spec,
        path,
        entries: [],
        mailbox: yield* Queue.bounded<Message>(options.mailbox ?? 256),
        failed: yield* Deferred.make<never, IntensityExceeded>(),
        window: [],
        dead: false
      }
      const entries = spec.children.map((child): Entry => ({
        spec: child,
        owner: group,
        state: "waiting",
        health: "unknown",
        generation: 0,
        restarts: 0,
        consecutive: 0,
        startedAt: null,
        lastExit: null,
        task: undefined,
        running: undefined,
        journal: new Ring(options.journalEvents ?? 64),
        logs: new Ring(options.logLines ?? 1000)
      }))
      ;(group as { entries: ReadonlyArray<Entry> }).entries = entries
      for (const entry of entries) byName.set(entry.spec.name, entry)
      const loop = Effect.forever(Effect.flatMap(Queue.take(group.mailbox), (message) =>
        group.dead && message._tag !== "StopAll" && message._tag !== "Control" && message._tag !== "Ping" ? Effect.void : handle(group, message)))
      yield* Effect.forkScoped(loop)
      yield* Effect.addFinalizer(() => Effect.forEach([...entries].reverse(), (e) => stopEntry(e, "stopped"), { discard: true }))
      for (const entry of entries) yield* launch(entry)
      return group
    })

  const rootGroup = yield* makeGroup(root, root.name)

  const find = (name: string) =>
    Effect.suspend(() => {
      const entry = byName.get(name)
      return entry === undefined ? Effect.fail(new UnknownChild({ name })) : Effect.succeed(entry)
    })

  const control = (op: "start" | "stop" | "restart") => (name: string) =>
    Effect.gen(function*() {
      const entry = yield* find(name)
      if (entry.owner.dead) return
      const done = yield* Deferred.make<void>()
      yield* send(entry.owner, { _tag: "Control", op, name, done })
      yield* Deferred.await(done)
    })

  const statusOf = (entry: Entry): ChildStatus => ({
    name: entry.spec.name,
    kind: entry.spec.kind,
    group: entry.owner.path,
    state: entry.state,
    health: entry.health,
    pid: entry.running?.pid ?? null,
    restarts: entry.restarts,
    startedAtMillis: entry.startedAt,
    lastExit: entry.lastExit
  })

  const walk = (group: Group): Array<ChildStatus> =>
    group.entries.flatMap((entry) => [statusOf(entry), ...(entry.running?.group ? walk(entry.running.group) : [])])

  const supervisor: Supervisor = {
    statuses: Effect.sync(() => walk(rootGroup)),
    start: control("start"),
    stop: control("stop"),
    restart: control("restart"),
    signal: (name, which) =>
      Effect.flatMap(find(name), (entry) => {
        const deliver = entry.running?.signal
        return deliver === undefined || entry.running?.pid == null ? Effect.succeed(false) : Effect.as(deliver(which), true)
      }),
    journal: (name) => Effect.map(find(name), (entry) => entry.journal.toArray()),
    logs: (name) => Effect.map(find(name), (entry) => entry.logs.toArray()),
    failure: Deferred.await(rootGroup.failed),
    shutdown: stopAll(rootGroup),
    ping: Effect.gen(function*() {
      const done = yield* Deferred.make<void>()
      yield* send(rootGroup, { _tag: "Ping", done })
      yield* Deferred.await(done)
    })
  }
  return supervisor
})
