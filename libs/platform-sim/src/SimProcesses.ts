/**
 * Simulated processes behind Effect's `ChildProcessSpawner` contract, on the virtual clock.
 *
 * Each binary is a script: how long it runs, its exit code, what it prints, whether it honours
 * SIGTERM, whether it is missing from the image. Faults come from the seed: `crash` kills a process
 * with a signal at any moment, as a segfault or the OOM killer would. Scope closure behaves like the
 * real spawner: the kill signal, then (with `forceKillAfter`) SIGKILL after the grace period, else
 * an unbounded wait.
 */
import { Deferred, Duration, Effect, Fiber, Layer, PlatformError, Sink, Stream } from "effect"
import { ChildProcessSpawner } from "effect/process"
import { Sockets } from "@keelos/platform"
import type { ChildProcess } from "effect/process"
import type { Prng } from "./Prng.ts"
import type { Trace } from "./Trace.ts"

export interface Behaviour {
  /** Exits by itself after this long; runs until killed when absent. */
  readonly exitAfterMillis?: number
  readonly exitCode?: number
  /** What SIGTERM does. */
  readonly onTerm?: "exit" | "ignore"
  /** Time a well-behaved program takes to exit after SIGTERM. */
  readonly termDelayMillis?: number
  /** Lines written to stdout at start, or `outputAfterMillis` after it. */
  readonly output?: ReadonlyArray<string>
  readonly outputAfterMillis?: number
  /** A unix socket the program starts accepting on after a delay, until it exits. */
  readonly listen?: { readonly path: string; readonly afterMillis: number }
}

export interface Launch {
  readonly command: string
  readonly args: ReadonlyArray<string>
  /** How many times this binary was started before, on this boot. */
  readonly attempt: number
  readonly prng: Prng
}

export type Program = (launch: Launch) => Behaviour

const signalNumbers: Record<string, number> = { SIGHUP: 1, SIGINT: 2, SIGKILL: 9, SIGSEGV: 11, SIGTERM: 15 }
const exitCodeOf = (signal: string) => 128 + (signalNumbers[signal] ?? 15)

interface Running {
  readonly pid: number
  readonly command: string
  readonly behaviour: Behaviour
  readonly exit: Deferred.Deferred<ChildProcessSpawner.ExitCode>
  lifetime: Fiber.Fiber<void> | undefined
}

export class SimProcesses {
  private readonly programs = new Map<string, Program>()
  private readonly running = new Map<number, Running>()
  private readonly starts = new Map<string, number>()
  /** Unix sockets accepting connections, by path, with the pid listening. */
  private readonly sockets = new Map<string, number>()
  private nextPid = 100
  private readonly prng: Prng
  private readonly trace: Trace

  constructor(prng: Prng, trace: Trace) {
    this.prng = prng
    this.trace = trace
  }

  /** Puts a binary into the simulated image. */
  install(path: string, program: Program): void {
    this.programs.set(path, program)
  }

  /** Pids of running processes with their commands, in pid order. */
  list(): ReadonlyArray<{ readonly pid: number; readonly command: string }> {
    return [...this.running.values()].map((r) => ({ pid: r.pid, command: r.command }))
  }

  /** The power went off: every process is gone, and the next boot starts counting again. */
  powerLoss(): void {
    for (const process of this.running.values()) if (process.lifetime) Effect.runFork(Fiber.interrupt(process.lifetime))
    this.running.clear()
    this.starts.clear()
    this.sockets.clear()
  }

  private finish(process: Running, code: number, why: string): Effect.Effect<void> {
    return Effect.suspend(() => {
      if (!this.running.has(process.pid)) return Effect.void
      this.running.delete(process.pid)
      for (const [path, pid] of this.sockets) if (pid === process.pid) this.sockets.delete(path)
      this.trace.record(`process ${process.pid} ${process.command} exited ${code} (${why})`)
      return Effect.asVoid(Deferred.succeed(process.exit, ChildProcessSpawner.ExitCode(code)))
    })
  }

  /** Delivers a signal, as kill(2) would. */
  signal(pid: number, signal: string): Effect.Effect<void> {
    return Effect.suspend(() => {
      const process = this.running.get(pid)
      if (process === undefined) return Effect.void
      this.trace.record(`process ${pid} ${process.command} got ${signal}`)
      if (signal === "SIGTERM" || signal === "SIGINT" || signal === "SIGHUP") {
        if (process.behaviour.onTerm === "ignore") return Effect.void
        const delay = process.behaviour.termDelayMillis ?? 0
        return Effect.asVoid(Effect.forkDetach(Effect.andThen(Effect.sleep(Duration.millis(delay)), this.finish(process, exitCodeOf(signal), signal))))
      }
      return this.finish(process, exitCodeOf(signal), signal)
    })
  }

  /** Fault injection: a running process dies at once, as from a segfault or the OOM killer. */
  crash(pid: number, signal: "SIGKILL" | "SIGSEGV" = "SIGKILL"): Effect.Effect<void> {
    return this.signal(pid, signal)
  }

  /** Fault injection: crash a running process chosen by the seed, if any. */
  crashRandom(): Effect.Effect<number | undefined> {
    return Effect.suspend(() => {
      const candidates = [...this.running.keys()]
      if (candidates.length === 0) return Effect.succeed(undefined)
      const pid = this.prng.pick(candidates)
      return Effect.as(this.crash(pid, this.prng.chance(0.5) ? "SIGKILL" : "SIGSEGV"), pid)
    })
  }

  private spawn(command: ChildProcess.Command) {
    const sim = this
    return Effect.gen(function*() {
      if (command._tag !== "StandardCommand") {
        return yield* Effect.fail(PlatformError.badArgument({ module: "SimProcesses", method: "spawn", description: "pipelines are not simulated" }))
      }
      const program = sim.programs.get(command.command)
      if (program === undefined) {
        sim.trace.record(`spawn ${command.command}: not found`)
        return yield* Effect.fail(PlatformError.systemError({ _tag: "NotFound", module: "ChildProcess", method: "spawn", pathOrDescriptor: command.command, description: "no such file" }))
      }
      const attempt = sim.starts.get(command.command) ?? 0
      sim.starts.set(command.command, attempt + 1)
      const args = command.args.map(String)
      const behaviour = program({ command: command.command, args, attempt, prng: sim.prng })
      const process: Running = { pid: sim.nextPid++, command: command.command, behaviour, exit: yield* Deferred.make<ChildProcessSpawner.ExitCode>(), lifetime: undefined }
      sim.running.set(process.pid, process)
      sim.trace.record(`process ${process.pid} ${command.command} started (attempt ${attempt})`)
      if (behaviour.exitAfterMillis !== undefined) {
        process.lifetime = yield* Effect.forkDetach(
          Effect.andThen(Effect.sleep(Duration.millis(behaviour.exitAfterMillis)), sim.finish(process, behaviour.exitCode ?? 0, "exited"))
        )
      }
      const listen = behaviour.listen
      if (listen !== undefined) {
        yield* Effect.forkDetach(Effect.andThen(Effect.sleep(Duration.millis(listen.afterMillis)), Effect.sync(() => {
          if (sim.running.has(process.pid)) sim.sockets.set(listen.path, process.pid)
        })))
      }
      const killSignal = command.options.killSignal ?? "SIGTERM"
      const forceKillAfter = command.options.forceKillAfter
      yield* Effect.addFinalizer(() =>
        Effect.gen(function*() {
          if (!sim.running.has(process.pid)) return
          yield* sim.signal(process.pid, killSignal)
          if (forceKillAfter !== undefined) {
            const exited = yield* Deferred.await(process.exit).pipe(Effect.timeoutOption(forceKillAfter))
            if (exited._tag === "None") yield* sim.signal(process.pid, "SIGKILL")
          }
          yield* Deferred.await(process.exit)
        })
      )
      const lines = Stream.fromIterable((behaviour.output ?? []).map((line) => new TextEncoder().encode(`${line}\n`)))
      const output = behaviour.outputAfterMillis === undefined ? lines : Stream.unwrap(Effect.as(Effect.sleep(Duration.millis(behaviour.outputAfterMillis)), lines))
      return ChildProcessSpawner.makeHandle({
        pid: ChildProcessSpawner.ProcessId(process.pid),
        exitCode: Deferred.await(process.exit),
        isRunning: Effect.sync(() => sim.running.has(process.pid)),
        kill: (options) => sim.signal(process.pid, options?.killSignal ?? "SIGTERM"),
        stdin: Sink.drain,
        stdout: output,
        stderr: Stream.empty,
        all: output,
        getInputFd: () => Sink.drain,
        getOutputFd: () => Stream.empty,
        unref: Effect.succeed(Effect.void)
      })
    })
  }

  /** Unix socket probes against the simulated processes' sockets. */
  socketsLayer(): Layer.Layer<Sockets.Sockets> {
    return Layer.succeed(Sockets.Sockets)({
      canConnect: (path) => Effect.sync(() => this.sockets.has(path)),
      // A simulated process listening on TCP declares `listen.path` as "tcp:HOST:PORT".
      canConnectTcp: (host, port) => Effect.sync(() => this.sockets.has(`tcp:${host}:${port}`))
    })
  }

  /** The ChildProcessSpawner of this machine. */
  layer(): Layer.Layer<ChildProcessSpawner.ChildProcessSpawner> {
    return Layer.succeed(ChildProcessSpawner.ChildProcessSpawner)(ChildProcessSpawner.make((command) => this.spawn(command)))
  }
}
