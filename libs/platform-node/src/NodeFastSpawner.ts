/**
 * A ChildProcessSpawner that starts the common case without forking Node. child_process forks the
 * whole Node process before the exec (page tables of 70 MB and more), which made a service restart
 * in keel-init take 1.6 ms of spawning alone, twice what a shell needs to run the same child;
 * posix_spawn starts it without copying anything. The common case is what the supervisor asks for:
 * an absolute command with its arguments and environment, stdin from /dev/null, stdout and stderr
 * piped, inherited or ignored, in its own process group. Anything else (a cwd, a shell, stdin
 * input, extra fds, a PATH lookup) goes to the spawner underneath, unchanged.
 *
 * Exits are collected on SIGCHLD with waitpid(pid, WNOHANG) for these pids only, so Node's own
 * children and the reaper's orphans are left to their owners (the reaper skips these pids).
 */
import * as net from "node:net"
import * as os from "node:os"
import { Deferred, Duration, Effect, Layer, Option, PlatformError, Redacted, Sink, Stream } from "effect"
import type { Scope } from "effect"
import { ChildProcess, ChildProcessSpawner } from "effect/process"
import * as NodeStream from "@effect/platform-node/NodeStream"
import * as PosixSpawn from "./internal/posixSpawn.ts"

const signalNames = new Map(Object.entries(os.constants.signals).map(([name, number]) => [number as number, name]))

/** Children started here that have not ended, each with what to do when it does. */
const waiting = new Map<number, (ended: PosixSpawn.Ended) => void>()
let listening = false

/**
 * Node's signal listeners do not keep the event loop alive, so while a child runs a timer does, as
 * Node's own child handles do; it also collects now and then, should a SIGCHLD be coalesced away.
 */
let keepAlive: ReturnType<typeof setInterval> | undefined

const collect = () => {
  for (const [pid, done] of waiting) {
    const ended = PosixSpawn.poll(pid)
    if (ended === undefined) continue
    waiting.delete(pid)
    done(ended)
  }
  if (waiting.size === 0 && keepAlive !== undefined) {
    clearInterval(keepAlive)
    keepAlive = undefined
  }
  holdLoop()
}

/** Children whose handle was unref'd: like Node's, they do not keep Node running on their own. */
const unreferenced = new Set<number>()

/** The timer keeps Node running while some child that was not unref'd runs. */
const holdLoop = () => {
  for (const pid of unreferenced) if (!waiting.has(pid)) unreferenced.delete(pid)
  if (keepAlive === undefined) return
  if (waiting.size > unreferenced.size) keepAlive.ref()
  else keepAlive.unref()
}

const watchExit = (pid: number, done: (ended: PosixSpawn.Ended) => void) => {
  waiting.set(pid, done)
  if (!listening) {
    listening = true
    process.on("SIGCHLD", collect)
  }
  keepAlive ??= setInterval(collect, 1_000)
  // It may have ended before the listener saw a SIGCHLD for it.
  collect()
}

type Output = PosixSpawn.Output

const simpleOutput = (value: ChildProcess.CommandOptions["stdout"]): Output | undefined =>
  value === undefined ? "pipe" : value === "pipe" || value === "inherit" || value === "ignore" ? value : undefined

const text = (value: string | Redacted.Redacted<string>) => (Redacted.isRedacted(value) ? Redacted.value(value) : value)

/** The arguments of a command the fast path takes, or undefined to leave it to Node. */
const plan = (command: ChildProcess.Command) => {
  if (command._tag !== "StandardCommand") return undefined
  const options = command.options
  const stdout = simpleOutput(options.stdout)
  const stderr = simpleOutput(options.stderr)
  if (
    !command.command.startsWith("/") || stdout === undefined || stderr === undefined || options.stdin !== "ignore" ||
    (options.shell !== undefined && options.shell !== false) || options.cwd !== undefined || options.additionalFds !== undefined ||
    options.detached === false
  ) return undefined
  const env = new Map<string, string>()
  if (options.extendEnv !== false) for (const [name, value] of Object.entries(process.env)) if (value !== undefined) env.set(name, value)
  for (const [name, value] of Object.entries(options.env ?? {})) {
    if (value === undefined) env.delete(name)
    else env.set(name, text(value))
  }
  const argv = [command.command, ...command.args.map(text)]
  const envp = [...env].map(([name, value]) => `${name}=${value}`)
  // Node refuses NUL with its own error; let it.
  if ([...argv, ...envp].some((s) => s.includes("\0"))) return undefined
  return { command, argv, envp, stdout, stderr }
}

const errnoTag = (errno: number): PlatformError.SystemErrorTag => (errno === 2 ? "NotFound" : errno === 13 ? "PermissionDenied" : "Unknown")

const spawnFast = (planned: NonNullable<ReturnType<typeof plan>>): Effect.Effect<ChildProcessSpawner.ChildProcessHandle, PlatformError.PlatformError, Scope.Scope> =>
  Effect.gen(function*() {
    const { command, argv, envp } = planned
    const options = command.options
    const exited = Deferred.makeUnsafe<PosixSpawn.Ended>()
    const sockets: Array<net.Socket> = []
    const started = yield* Effect.acquireRelease(
      Effect.suspend(() => {
        let result: ReturnType<typeof PosixSpawn.spawn>
        try {
          result = PosixSpawn.spawn(command.command, argv, envp, planned.stdout, planned.stderr)
        } catch (cause) {
          return Effect.fail(PlatformError.systemError({ _tag: "Unknown", module: "ChildProcess", method: "spawn", pathOrDescriptor: command.command, cause }))
        }
        if ("error" in result) {
          return Effect.fail(PlatformError.systemError({
            _tag: errnoTag(result.error),
            module: "ChildProcess",
            method: "spawn",
            pathOrDescriptor: command.command,
            description: `posix_spawn failed with errno ${result.error}`
          }))
        }
        watchExit(result.pid, (ended) => void Deferred.doneUnsafe(exited, Effect.succeed(ended)))
        return Effect.succeed(result)
      }),
      (started) =>
        Effect.gen(function*() {
          if (!Deferred.isDoneUnsafe(exited)) yield* kill(started.pid, exited, options)
          // What is left of its process group (grandchildren) gets the same signal.
          signalGroup(started.pid, options.killSignal ?? "SIGTERM")
          for (const socket of sockets) socket.destroy()
        })
    )
    const output = (fd: number | null): Stream.Stream<Uint8Array, PlatformError.PlatformError> => {
      if (fd === null) return Stream.empty
      const socket = new net.Socket({ fd, readable: true, writable: false })
      sockets.push(socket)
      return NodeStream.fromReadable({
        evaluate: () => socket,
        onError: (cause) => PlatformError.systemError({ _tag: "Unknown", module: "ChildProcess", method: "stdout", pathOrDescriptor: command.command, cause })
      })
    }
    const stdout = output(started.stdout)
    const stderr = output(started.stderr)
    const exitCode = Effect.flatMap(Deferred.await(exited), (ended) => {
      if (ended.code !== null) return Effect.succeed(ChildProcessSpawner.ExitCode(ended.code))
      const description = ended.signal !== null
        ? `Process interrupted due to receipt of signal: '${signalNames.get(ended.signal) ?? ended.signal}'`
        : "the exit status was taken by another waiter"
      return Effect.fail(PlatformError.systemError({ _tag: "Unknown", module: "ChildProcess", method: "exitCode", pathOrDescriptor: command.command, description }))
    })
    const unsupported = (method: string) =>
      PlatformError.badArgument({ module: "ChildProcess", method, description: "this child was started without extra file descriptors" })
    return ChildProcessSpawner.makeHandle({
      pid: ChildProcessSpawner.ProcessId(started.pid),
      exitCode,
      isRunning: Effect.sync(() => !Deferred.isDoneUnsafe(exited)),
      kill: (killOptions) => kill(started.pid, exited, killOptions),
      stdin: Sink.drain,
      stdout,
      stderr,
      all: Stream.merge(stdout, stderr),
      getInputFd: () => Sink.fail(unsupported("getInputFd")),
      getOutputFd: () => Stream.fail(unsupported("getOutputFd")),
      unref: Effect.sync(() => {
        if (waiting.has(started.pid)) unreferenced.add(started.pid)
        holdLoop()
        return Effect.sync(() => {
          unreferenced.delete(started.pid)
          holdLoop()
        })
      })
    })
  })

/** Signals the child's process group (it leads one), or the child alone when the group is gone. */
const signalGroup = (pid: number, signal: string) => {
  try {
    process.kill(-pid, signal)
  } catch {
    try {
      process.kill(pid, signal)
    } catch {
      // Gone already.
    }
  }
}

const kill = (pid: number, exited: Deferred.Deferred<PosixSpawn.Ended>, options: ChildProcess.KillOptions | undefined) =>
  Effect.gen(function*() {
    if (Deferred.isDoneUnsafe(exited)) return
    signalGroup(pid, options?.killSignal ?? "SIGTERM")
    if (options?.forceKillAfter !== undefined) {
      const ended = yield* Effect.timeoutOption(Deferred.await(exited), Duration.fromInputUnsafe(options.forceKillAfter))
      if (Option.isNone(ended)) signalGroup(pid, "SIGKILL")
    }
    yield* Deferred.await(exited)
  })

/** The fast path over the ChildProcessSpawner it is given, which keeps every other case. */
export const layer: Layer.Layer<ChildProcessSpawner.ChildProcessSpawner, never, ChildProcessSpawner.ChildProcessSpawner> = Layer.effect(ChildProcessSpawner.ChildProcessSpawner)(
  Effect.map(ChildProcessSpawner.ChildProcessSpawner, (node) => {
    let usable: boolean | undefined
    return ChildProcessSpawner.make((command) => {
      const planned = plan(command)
      if (planned === undefined) return node.spawn(command)
      usable ??= PosixSpawn.available()
      return usable ? spawnFast(planned) : node.spawn(command)
    })
  })
)
