import { assert, describe, it } from "@effect/vitest"
import { Clock, Effect, Fiber, Stream } from "effect"
import { HttpClient } from "effect/http"
import { ChildProcess, ChildProcessSpawner } from "effect/process"
import { TestClock } from "effect/testing"
import { Prng, SimNetwork, SimProcesses, Trace } from "../src/index.ts"

/** Spawns through the spawner service, as production code does. */
const spawn = (command: string, args: ReadonlyArray<string>, options?: ChildProcess.CommandOptions) =>
  Effect.flatMap(ChildProcessSpawner.ChildProcessSpawner, (spawner) => spawner.spawn(ChildProcess.make(command, args, options)))

const machine = (seed = 1) => {
  const trace = new Trace()
  return { trace, processes: new SimProcesses.SimProcesses(new Prng(seed), trace), network: new SimNetwork.SimNetwork(new Prng(seed), trace) }
}

describe("SimProcesses", () => {
  it.effect("runs a scripted program on the virtual clock and reports its exit", () =>
    Effect.gen(function*() {
      const { processes } = machine()
      processes.install("/usr/bin/containerd", ({ attempt }) => ({ exitAfterMillis: 500, exitCode: 3 + attempt, output: ["ready"] }))
      const result = yield* Effect.scoped(Effect.gen(function*() {
        const handle = yield* spawn("/usr/bin/containerd", ["--config", "x"])
        const lines = yield* Stream.runCollect(Stream.decodeText(handle.stdout))
        const exit = yield* Effect.forkChild(handle.exitCode)
        yield* TestClock.adjust(499)
        assert.isTrue(yield* handle.isRunning)
        yield* TestClock.adjust(1)
        return { code: yield* Fiber.join(exit), lines, at: yield* Clock.currentTimeMillis }
      })).pipe(Effect.provide(processes.layer()))
      assert.deepStrictEqual(result, { code: ChildProcessSpawner.ExitCode(3), lines: ["ready\n"], at: 500 })
      const second = yield* Effect.scoped(Effect.gen(function*() {
        const handle = yield* spawn("/usr/bin/containerd", [])
        const exit = yield* Effect.forkChild(handle.exitCode)
        yield* TestClock.adjust(500)
        return yield* Fiber.join(exit)
      })).pipe(Effect.provide(processes.layer()))
      assert.strictEqual(second, 4)
      // Closing the scope of a running process sends SIGTERM, as the real spawner does.
      const terminated = yield* Effect.scoped(Effect.flatMap(spawn("/usr/bin/containerd", []), (h) => Effect.succeed(h))).pipe(
        Effect.flatMap((h) => h.exitCode),
        Effect.provide(processes.layer())
      )
      assert.strictEqual(terminated, 143)
    }))

  it.effect("kills a program that ignores SIGTERM with SIGKILL after the grace period", () =>
    Effect.gen(function*() {
      const { processes, trace } = machine()
      processes.install("/usr/bin/stubborn", () => ({ onTerm: "ignore" }))
      const stopped = yield* Effect.forkChild(Effect.scoped(Effect.gen(function*() {
        yield* spawn("/usr/bin/stubborn", [], { forceKillAfter: "2 seconds" })
      })).pipe(Effect.andThen(Clock.currentTimeMillis), Effect.provide(processes.layer())))
      yield* TestClock.adjust(1999)
      assert.isUndefined(stopped.pollUnsafe())
      yield* TestClock.adjust(1)
      assert.strictEqual(yield* Fiber.join(stopped), 2000)
      assert.include(trace.tail(2).join("\n"), "exited 137 (SIGKILL)")
    }))

  it.effect("crashes a running process on demand, and refuses a binary the image lacks", () =>
    Effect.gen(function*() {
      const { processes } = machine()
      processes.install("/usr/bin/agent", () => ({}))
      const code = yield* Effect.scoped(Effect.gen(function*() {
        const handle = yield* spawn("/usr/bin/agent", [])
        const exit = yield* Effect.forkChild(handle.exitCode)
        yield* processes.crash(handle.pid, "SIGSEGV")
        return yield* Fiber.join(exit)
      })).pipe(Effect.provide(processes.layer()))
      assert.strictEqual(code, 139)
      const missing = yield* Effect.flip(Effect.scoped(spawn("/usr/bin/kubelet", [])).pipe(Effect.provide(processes.layer())))
      assert.strictEqual(missing.reason._tag, "NotFound")
    }))
})

describe("SimNetwork", () => {
  const serveBlob = (network: SimNetwork.SimNetwork, blob: Uint8Array) =>
    network.serve("updates.test", (request) =>
      Effect.succeed(request.url.pathname === "/blob" ? { status: 200, body: blob } : { status: 404 }))

  it.effect("serves hosts in memory, with latency on the virtual clock", () =>
    Effect.gen(function*() {
      const { network } = machine()
      serveBlob(network, new Uint8Array([1, 2, 3]))
      network.setFaults({ ...SimNetwork.noFaults, maxLatencyMillis: 1000 })
      const fiber = yield* Effect.forkChild(
        HttpClient.get("http://updates.test/blob").pipe(Effect.flatMap((r) => Effect.map(r.arrayBuffer, (b) => [r.status, [...new Uint8Array(b)]])), Effect.provide(network.layer()))
      )
      yield* TestClock.adjust(1000)
      assert.deepStrictEqual(yield* Fiber.join(fiber), [200, [1, 2, 3]])
      const missing = yield* HttpClient.get("http://updates.test/none").pipe(Effect.map((r) => r.status), Effect.provide(network.layer()), Effect.forkChild)
      yield* TestClock.adjust(1000)
      assert.strictEqual(yield* Fiber.join(missing), 404)
    }))

  it.effect("drops, truncates and corrupts according to the seed, and partitions hosts", () =>
    Effect.gen(function*() {
      const blob = new Uint8Array(4096).map((_, i) => i & 0xff)
      const outcomes = new Set<string>()
      for (let seed = 1; seed <= 60; seed++) {
        const { network } = machine(seed)
        serveBlob(network, blob)
        network.setFaults({ drop: 0.25, truncate: 0.25, corrupt: 0.25, maxLatencyMillis: 0 })
        const result = yield* HttpClient.get("http://updates.test/blob").pipe(
          Effect.flatMap((r) => r.arrayBuffer),
          Effect.map((b) => (Buffer.from(b).equals(Buffer.from(blob)) ? "intact" : "corrupt")),
          Effect.catch((e) => Effect.succeed(e.reason._tag === "TransportError" ? "dropped" : "truncated")),
          Effect.provide(network.layer())
        )
        outcomes.add(result)
      }
      assert.deepStrictEqual([...outcomes].sort(), ["corrupt", "dropped", "intact", "truncated"])
      const { network } = machine()
      serveBlob(network, blob)
      network.partition("updates.test")
      const cut = yield* Effect.flip(HttpClient.get("http://updates.test/blob").pipe(Effect.provide(network.layer())))
      assert.strictEqual(cut.reason._tag, "TransportError")
      network.heal("updates.test")
      assert.strictEqual(yield* HttpClient.get("http://updates.test/blob").pipe(Effect.map((r) => r.status), Effect.provide(network.layer())), 200)
    }))
})
