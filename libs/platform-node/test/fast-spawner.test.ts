/**
 * The posix_spawn path of the ChildProcessSpawner against real processes: what keel-init's
 * supervisor relies on (exit codes, signals, output, a grace period before SIGKILL, a missing
 * binary) and that everything it does not take still goes through Node's spawner.
 */
import { spawnSync } from "node:child_process"
import * as fs from "node:fs"
import * as path from "node:path"
import { describe, expect, it } from "vitest"
import { Effect, Exit, Layer, Stream } from "effect"
import type { Scope } from "effect"
import { ChildProcess, ChildProcessSpawner } from "effect/process"
import * as NodeServices from "@effect/platform-node/NodeServices"
import * as NodeFastSpawner from "../src/NodeFastSpawner.ts"
import * as PosixSpawn from "../src/internal/posixSpawn.ts"

const layer = Layer.provide(NodeFastSpawner.layer, NodeServices.layer)
type Needs = ChildProcessSpawner.ChildProcessSpawner | Scope.Scope
const run = <A, E>(effect: Effect.Effect<A, E, Needs>) =>
  Effect.runPromise(Effect.scoped(effect).pipe(Effect.provide(layer)))
const runExit = <A, E>(effect: Effect.Effect<A, E, Needs>) =>
  Effect.runPromiseExit(Effect.scoped(effect).pipe(Effect.provide(layer)))
const daemon = (args: Array<string>, options: ChildProcess.CommandOptions = {}) =>
  ChildProcess.make("/bin/sh", ["-c", ...args], { stdin: "ignore", stdout: "pipe", stderr: "pipe", ...options })
const text = (stream: Stream.Stream<Uint8Array, unknown>) =>
  Stream.runFold(stream, () => "", (acc, chunk: Uint8Array) => acc + Buffer.from(chunk).toString())

describe("NodeFastSpawner", () => {
  it("starts a daemon through posix_spawn with exactly its environment, captures both outputs and returns its exit code", async () => {
    const result = await run(Effect.gen(function*() {
      const spawner = yield* ChildProcessSpawner.ChildProcessSpawner
      const child = yield* spawner.spawn(daemon(["sleep 0.5; echo out $KEEL_X $HOME; echo err >&2; exit 3"], { env: { KEEL_X: "x" }, extendEnv: false }))
      const fast = PosixSpawn.running.has(child.pid)
      const [stdout, stderr] = yield* Effect.all([text(child.stdout), text(child.stderr)], { concurrency: 2 })
      const code = yield* child.exitCode
      return { fast, stdout, stderr, code, after: PosixSpawn.running.has(child.pid) }
    }))
    expect(result).toEqual({ fast: true, stdout: "out x\n", stderr: "err\n", code: 3, after: false })
  })

  it("reports a child killed by a signal the way Node's spawner does", async () => {
    const exit = await runExit(Effect.gen(function*() {
      const spawner = yield* ChildProcessSpawner.ChildProcessSpawner
      const child = yield* spawner.spawn(daemon(["kill -USR1 $$; sleep 5"]))
      return yield* child.exitCode
    }))
    expect(Exit.isFailure(exit) && String(exit.cause)).toContain("Process interrupted due to receipt of signal: 'SIGUSR1'")
  })

  it("kills a child that ignores SIGTERM with SIGKILL after the grace period, and its process group with it", async () => {
    const result = await run(Effect.gen(function*() {
      const spawner = yield* ChildProcessSpawner.ChildProcessSpawner
      const child = yield* spawner.spawn(daemon(["trap '' TERM; sleep 30 & echo $!; wait"]))
      const grandchild = Number((yield* Stream.runHead(Stream.decodeText(child.stdout))).pipe((o) => o._tag === "Some" ? o.value : "0"))
      const started = performance.now()
      yield* child.kill({ killSignal: "SIGTERM", forceKillAfter: "300 millis" })
      const waited = performance.now() - started
      const exit = yield* Effect.exit(child.exitCode)
      // Dead, or a zombie its new parent has not reaped yet; a SIGKILL takes effect when the sleeper wakes, so give it a moment.
      const running = () => fs.existsSync(`/proc/${grandchild}`) && !/\) Z /.test(fs.readFileSync(`/proc/${grandchild}/stat`, "utf8"))
      let alive = running()
      for (let i = 0; alive && i < 100; i++) alive = yield* Effect.andThen(Effect.sleep("10 millis"), Effect.sync(running))
      return { waited, failed: Exit.isFailure(exit) && String(exit.cause).includes("SIGKILL"), alive }
    }))
    expect(result.waited).toBeGreaterThanOrEqual(290)
    expect(result.failed).toBe(true)
    expect(result.alive).toBe(false)
  })

  it("fails with NotFound for a binary that does not exist", async () => {
    const exit = await runExit(Effect.gen(function*() {
      const spawner = yield* ChildProcessSpawner.ChildProcessSpawner
      return yield* spawner.spawn(ChildProcess.make("/nonexistent/keel-daemon", [], { stdin: "ignore" }))
    }))
    expect(Exit.isFailure(exit) && String(exit.cause)).toMatch(/NotFound/)
  })

  it("leaves what it does not take (a PATH lookup, a cwd, stdin input) to Node's spawner", async () => {
    const result = await run(Effect.gen(function*() {
      const spawner = yield* ChildProcessSpawner.ChildProcessSpawner
      const child = yield* spawner.spawn(ChildProcess.make("sh", ["-c", "pwd; cat"], { cwd: "/tmp", stdin: "pipe", stdout: "pipe" }))
      const fast = PosixSpawn.running.has(child.pid)
      yield* Stream.run(Stream.make(new TextEncoder().encode("input\n")), child.stdin)
      const stdout = yield* text(child.stdout)
      return { fast, stdout, code: yield* child.exitCode }
    }))
    expect(result).toEqual({ fast: false, stdout: "/tmp\ninput\n", code: 0 })
  })

  it("keeps Node running while a child runs, with nothing else to wait for, unless its handle was unref'd", () => {
    const alone = (...args: Array<string>) =>
      spawnSync(process.execPath, [path.join(import.meta.dirname, "fixtures", "fast-spawn-alone.ts"), ...args], { encoding: "utf8", timeout: 30_000 })
    expect(alone().stdout.trim()).toBe(JSON.stringify({ code: 7 }))
    const unrefd = alone("unref")
    expect(unrefd.status).toBe(0)
    expect(unrefd.stdout).toBe("")
  })
})
