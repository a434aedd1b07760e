import { assert, describe, it } from "@effect/vitest"
import { Deferred, Effect, Fiber } from "effect"
import type { ServiceSpec } from "@keelos/domain"
import type { SimProcesses } from "@keelos/platform-sim"
import { Supervisor } from "../src/index.ts"
import { advance, group, machine, service, startsOf } from "./helpers.ts"

describe("restart types", () => {
  it.effect("permanent: restarts at the exact backoff times, doubling to the cap", () =>
    Effect.gen(function*() {
      const m = machine()
      m.processes.install("/usr/bin/crashy", () => ({ exitAfterMillis: 1000, exitCode: 1 }))
      const sup = yield* Supervisor.make(group("root", [service("crashy")])).pipe(Effect.provide(m.layer))
      yield* advance(12_000)
      // runs 1 s each time; backoff 100, 200, 400, 800, 1000, 1000 ...
      assert.deepStrictEqual(startsOf(yield* sup.journal("crashy")), [0, 1100, 2300, 3700, 5500, 7500, 9500, 11500])
      const [status] = yield* sup.statuses
      assert.strictEqual(status?.restarts, 7)
      assert.deepStrictEqual(status?.lastExit, { code: 1, reason: "exited with 1", atMillis: 10500 })
    }))

  it.effect("transient: restarted after an abnormal exit only", () =>
    Effect.gen(function*() {
      const m = machine()
      m.processes.install("/usr/bin/job", ({ attempt }) => ({ exitAfterMillis: 500, exitCode: attempt === 0 ? 2 : 0 }))
      const sup = yield* Supervisor.make(group("root", [service("job", { restart: "transient" })])).pipe(Effect.provide(m.layer))
      yield* advance(5_000)
      assert.deepStrictEqual(startsOf(yield* sup.journal("job")), [0, 600])
      assert.strictEqual((yield* sup.statuses)[0]?.state, "exited")
    }))

  it.effect("temporary: never restarted", () =>
    Effect.gen(function*() {
      const m = machine()
      m.processes.install("/usr/bin/once", () => ({ exitAfterMillis: 500, exitCode: 9 }))
      const sup = yield* Supervisor.make(group("root", [service("once", { restart: "temporary" })])).pipe(Effect.provide(m.layer))
      yield* advance(5_000)
      assert.deepStrictEqual(startsOf(yield* sup.journal("once")), [0])
      assert.strictEqual((yield* sup.statuses)[0]?.state, "exited")
    }))
})

describe("restart intensity", () => {
  it.effect("escalates on the restart that exceeds maxRestarts within the period, stopping the group", () =>
    Effect.gen(function*() {
      const m = machine()
      m.processes.install("/usr/bin/crashy", () => ({ exitAfterMillis: 100, exitCode: 1 }))
      m.processes.install("/usr/bin/steady", () => ({}))
      const fast = { initialMillis: 100, maxMillis: 100, resetAfterMillis: 60_000 }
      const sup = yield* Supervisor.make(
        group("root", [service("steady"), service("crashy", { backoff: fast })], { maxRestarts: 3, periodMillis: 10_000 })
      ).pipe(Effect.provide(m.layer))
      const failure = yield* Effect.forkChild(Effect.flip(sup.failure))
      yield* advance(2_000)
      const error = yield* Fiber.join(failure)
      assert.strictEqual(error._tag, "IntensityExceeded")
      assert.strictEqual(error.child, "crashy")
      // crashes at 100, 300, 500 are restarted; the fourth (700) exceeds 3 within 10 s
      assert.deepStrictEqual(startsOf(yield* sup.journal("crashy")), [0, 200, 400, 600])
      assert.deepStrictEqual(m.processes.list(), [])
      const states = (yield* sup.statuses).map((s) => [s.name, s.state])
      assert.deepStrictEqual(states, [["steady", "stopped"], ["crashy", "failed"]])
    }))

  it.effect("restarts that slid out of the window do not count", () =>
    Effect.gen(function*() {
      const m = machine()
      m.processes.install("/usr/bin/slow-crash", () => ({ exitAfterMillis: 4_000, exitCode: 1 }))
      // crashes every ~4.1 s or more: never more than 2 restarts in any 5 s
      const sup = yield* Supervisor.make(group("root", [service("slow-crash")], { maxRestarts: 2, periodMillis: 5_000 })).pipe(Effect.provide(m.layer))
      const failure = yield* Effect.forkChild(sup.failure)
      yield* advance(60_000)
      assert.isUndefined(failure.pollUnsafe())
      assert.isAbove(startsOf(yield* sup.journal("slow-crash")).length, 10)
    }))
})

describe("backoff", () => {
  it.effect("starts again from the initial delay after a stable run", () =>
    Effect.gen(function*() {
      const m = machine()
      // three quick crashes, then a run of 70 s (longer than resetAfter), then a crash
      m.processes.install("/usr/bin/flaky", ({ attempt }) => ({ exitAfterMillis: attempt === 3 ? 70_000 : 10, exitCode: 1 }))
      const sup = yield* Supervisor.make(group("root", [service("flaky")])).pipe(Effect.provide(m.layer))
      yield* advance(80_000, 10)
      const restarting = (yield* sup.journal("flaky")).filter((e) => e._tag === "Restarting").map((e) => e._tag === "Restarting" ? e.delayMillis : -1)
      assert.deepStrictEqual(restarting.slice(0, 4), [100, 200, 400, 100])
    }))
})

describe("dependencies and readiness", () => {
  it.effect("starts a dependant only once its dependency's socket accepts", () =>
    Effect.gen(function*() {
      const m = machine()
      m.processes.install("/usr/bin/containerd", () => ({ listen: { path: "/run/containerd/containerd.sock", afterMillis: 2_000 } }))
      m.processes.install("/usr/bin/kubelet", () => ({}))
      const sup = yield* Supervisor.make(group("root", [
        service("kubelet", { dependsOn: ["containerd" as never] }),
        service("containerd", { readiness: { _tag: "UnixSocket", path: "/run/containerd/containerd.sock" } })
      ])).pipe(Effect.provide(m.layer))
      yield* advance(1_900)
      assert.deepStrictEqual((yield* sup.statuses).map((s) => [s.name, s.state]), [["kubelet", "starting"], ["containerd", "starting"]])
      yield* advance(1_000)
      assert.deepStrictEqual(startsOf(yield* sup.journal("containerd")), [0])
      const ready = (yield* sup.journal("containerd")).find((e) => e._tag === "Ready")!.atMillis
      const [kubeletStart] = startsOf(yield* sup.journal("kubelet"))
      // the socket accepts from 2000 ms; readiness and the dependency are each polled every 100 ms
      assert.isAtLeast(ready, 2000)
      assert.isAtMost(ready, 2100)
      assert.isAtLeast(kubeletStart!, ready)
      assert.isAtMost(kubeletStart!, ready + 100)
      assert.deepStrictEqual((yield* sup.statuses).map((s) => s.health), ["healthy", "healthy"])
    }))

  /** An agent that can answer from 3 s with `readiness` on it, and containerd depending on it: containerd starts once the agent is ready, at 3 s. */
  const agentBeforeContainerd = (agent: SimProcesses.Behaviour, readiness: ServiceSpec.Readiness) =>
    Effect.gen(function*() {
      const m = machine()
      m.processes.install("/usr/bin/agent", () => agent)
      m.processes.install("/usr/bin/containerd", () => ({}))
      const sup = yield* Supervisor.make(group("root", [
        service("agent", { readiness }),
        service("containerd", { dependsOn: ["agent" as never] })
      ])).pipe(Effect.provide(m.layer))
      yield* advance(2_900)
      assert.deepStrictEqual(startsOf(yield* sup.journal("containerd")), [])
      yield* advance(500)
      const ready = (yield* sup.journal("agent")).find((e) => e._tag === "Ready")!.atMillis
      assert.isAtLeast(ready, 3000)
      assert.isAtMost(ready, 3100)
      assert.isAtLeast(startsOf(yield* sup.journal("containerd"))[0]!, ready)
    })

  it.effect("a TCP port that accepts is readiness too (the agent before containerd)", () =>
    agentBeforeContainerd({ listen: { path: "tcp:127.0.0.1:50051", afterMillis: 3_000 } }, { _tag: "TcpConnect", host: "127.0.0.1", port: 50051 }))

  it.effect("a line the service prints is readiness too: listening is not serving (the agent's serving line before containerd)", () =>
    // The port accepts at 1 s; the agent can answer only from 3 s, and says so.
    agentBeforeContainerd(
      {
        listen: { path: "tcp:127.0.0.1:50051", afterMillis: 1_000 },
        output: ["keel-agent 0.1.0 starting", "keel-agent 0.1.0 serving the node API on 0.0.0.0:50051"],
        outputAfterMillis: 3_000
      },
      { _tag: "LogLine", containing: ["serving the node API", "waiting for first trust"] }
    ))

  it.effect("a line printed by an earlier start does not make a restart ready", () =>
    Effect.gen(function*() {
      const m = machine()
      // The first start serves and then crashes; the second never gets to serve.
      m.processes.install("/usr/bin/agent", ({ attempt }) =>
        attempt === 0 ? { output: ["serving the node API"], exitAfterMillis: 500, exitCode: 1 } : { output: ["keel-agent starting"] })
      const sup = yield* Supervisor.make(group("root", [
        service("agent", { readiness: { _tag: "LogLine", containing: ["serving the node API"] }, readyTimeoutMillis: 60_000 })
      ])).pipe(Effect.provide(m.layer))
      yield* advance(5_000)
      assert.deepStrictEqual(startsOf(yield* sup.journal("agent")).length, 2)
      assert.deepStrictEqual((yield* sup.statuses).map((s) => [s.name, s.state]), [["agent", "starting"]])
    }))

  it.effect("a start gate holds the children it names until it opens; the others start at once", () =>
    Effect.gen(function*() {
      const m = machine()
      m.processes.install("/usr/bin/agent", () => ({}))
      m.processes.install("/usr/bin/containerd", () => ({}))
      const modules = yield* Deferred.make<void>()
      const sup = yield* Supervisor.make(group("root", [service("agent"), service("containerd")]), {
        startGate: (child) => (child === "agent" ? Effect.void : Deferred.await(modules))
      }).pipe(Effect.provide(m.layer))
      yield* advance(5_000)
      assert.deepStrictEqual(startsOf(yield* sup.journal("agent")), [0])
      assert.deepStrictEqual(startsOf(yield* sup.journal("containerd")), [])
      assert.deepStrictEqual((yield* sup.statuses).map((s) => [s.name, s.state]), [["agent", "running"], ["containerd", "starting"]])
      yield* Deferred.succeed(modules, undefined)
      yield* advance(100)
      assert.deepStrictEqual(startsOf(yield* sup.journal("containerd")), [5000])
    }))

  it.effect("a service that never becomes ready counts as failed and is restarted", () =>
    Effect.gen(function*() {
      const m = machine()
      m.processes.install("/usr/bin/mute", () => ({}))
      const sup = yield* Supervisor.make(group("root", [
        service("mute", { readiness: { _tag: "UnixSocket", path: "/run/mute.sock" }, readyTimeoutMillis: 1_000 })
      ])).pipe(Effect.provide(m.layer))
      yield* advance(1_500)
      const journal = yield* sup.journal("mute")
      assert.deepStrictEqual(journal.filter((e) => e._tag === "Exited").map((e) => e._tag === "Exited" ? [e.atMillis, e.reason] : []), [[1000, "not ready within 1000 ms"]])
      assert.deepStrictEqual(startsOf(journal), [0, 1100])
    }))

  it.effect("an optional service missing from the image is absent, and its dependants start", () =>
    Effect.gen(function*() {
      const m = machine()
      m.processes.install("/usr/bin/agent", () => ({}))
      const sup = yield* Supervisor.make(group("root", [
        service("kubelet", { optional: true }),
        service("agent", { dependsOn: ["kubelet" as never] })
      ])).pipe(Effect.provide(m.layer))
      yield* advance(500)
      assert.deepStrictEqual((yield* sup.statuses).map((s) => [s.name, s.state]), [["kubelet", "absent"], ["agent", "running"]])
    }))
})

describe("shutdown", () => {
  it.effect("stops in reverse start order, killing what ignores SIGTERM after its grace", () =>
    Effect.gen(function*() {
      const m = machine()
      m.processes.install("/usr/bin/a", () => ({ termDelayMillis: 300 }))
      m.processes.install("/usr/bin/b", () => ({ onTerm: "ignore" }))
      m.processes.install("/usr/bin/c", () => ({ termDelayMillis: 100 }))
      const sup = yield* Supervisor.make(group("root", [service("a"), service("b", { shutdownGraceMillis: 2_000 }), service("c")])).pipe(Effect.provide(m.layer))
      yield* advance(100)
      const shutdown = yield* Effect.forkChild(sup.shutdown)
      yield* advance(3_000, 10)
      yield* Fiber.join(shutdown)
      const stopped = (name: string) => Effect.map(sup.journal(name), (j) => j.find((e) => e._tag === "Stopped")?.atMillis)
      // c: 100 ms after SIGTERM; b: SIGKILL after its 2 s grace; a: 300 ms after that
      assert.deepStrictEqual([yield* stopped("c"), yield* stopped("b"), yield* stopped("a")], [200, 2200, 2500])
      assert.include(m.trace.tail(20).join("\n"), "exited 137 (SIGKILL)")
      assert.deepStrictEqual(m.processes.list(), [])
    }))
})

describe("strategies", () => {
  const twoAndCrashy = (strategy: "one_for_one" | "one_for_all" | "rest_for_one") =>
    Effect.gen(function*() {
      const m = machine()
      m.processes.install("/usr/bin/first", () => ({}))
      m.processes.install("/usr/bin/second", ({ attempt }) => (attempt === 0 ? { exitAfterMillis: 1_000, exitCode: 1 } : {}))
      m.processes.install("/usr/bin/third", () => ({}))
      const sup = yield* Supervisor.make(group("root", [service("first"), service("second"), service("third")], { strategy })).pipe(Effect.provide(m.layer))
      yield* advance(3_000)
      return { first: startsOf(yield* sup.journal("first")), second: startsOf(yield* sup.journal("second")), third: startsOf(yield* sup.journal("third")) }
    })

  it.effect("one_for_one restarts the child alone", () =>
    Effect.map(twoAndCrashy("one_for_one"), (s) => assert.deepStrictEqual(s, { first: [0], second: [0, 1100], third: [0] })))
  it.effect("one_for_all restarts every child", () =>
    Effect.map(twoAndCrashy("one_for_all"), (s) => assert.deepStrictEqual(s, { first: [0, 1100], second: [0, 1100], third: [0, 1100] })))
  it.effect("rest_for_one restarts the child and those started after it", () =>
    Effect.map(twoAndCrashy("rest_for_one"), (s) => assert.deepStrictEqual(s, { first: [0], second: [0, 1100], third: [0, 1100] })))
})

describe("nested groups", () => {
  it.effect("a group that exceeds its intensity is restarted by its parent", () =>
    Effect.gen(function*() {
      const m = machine()
      let generation = 0
      m.processes.install("/usr/bin/containerd", ({ attempt }) => {
        if (attempt === 0) generation = 0
        return generation++ < 3 ? { exitAfterMillis: 50, exitCode: 1 } : {}
      })
      m.processes.install("/usr/bin/agent", () => ({}))
      const fast = { initialMillis: 10, maxMillis: 10, resetAfterMillis: 60_000 }
      const sup = yield* Supervisor.make(group("root", [
        group("runtime", [service("containerd", { backoff: fast })], { maxRestarts: 1, periodMillis: 10_000, backoff: fast }),
        service("agent")
      ])).pipe(Effect.provide(m.layer))
      yield* advance(2_000, 10)
      const statuses = yield* sup.statuses
      assert.deepStrictEqual(statuses.map((s) => [s.name, s.state]), [["runtime", "running"], ["containerd", "running"], ["agent", "running"]])
      assert.strictEqual(statuses[0]?.restarts, 1)
      assert.strictEqual(startsOf(yield* sup.journal("agent")).length, 1)
    }))
})

describe("control and logs", () => {
  it.effect("stops, starts and restarts one service on request, and keeps its output", () =>
    Effect.gen(function*() {
      const m = machine()
      m.processes.install("/usr/bin/talker", ({ attempt }) => ({ output: [`hello ${attempt}`, "ready"] }))
      const sup = yield* Supervisor.make(group("root", [service("talker")]), { logLines: 3 }).pipe(Effect.provide(m.layer))
      yield* advance(100)
      yield* sup.ping
      yield* sup.stop("talker")
      assert.strictEqual((yield* sup.statuses)[0]?.state, "stopped")
      yield* sup.start("talker")
      yield* advance(100)
      yield* sup.restart("talker")
      yield* advance(100)
      assert.deepStrictEqual((yield* sup.logs("talker")).map((l) => l.line), ["ready", "hello 2", "ready"])
      assert.strictEqual((yield* sup.statuses)[0]?.restarts, 0)
      const unknown = yield* Effect.flip(sup.restart("nope"))
      assert.strictEqual(unknown._tag, "UnknownChild")
    }))

  it.effect("refuses a tree with unknown dependencies", () =>
    Effect.gen(function*() {
      const m = machine()
      const error = yield* Effect.flip(Supervisor.make(group("root", [service("a", { dependsOn: ["b" as never] })])).pipe(Effect.provide(m.layer)))
      assert.strictEqual(error._tag, "InvalidTree")
    }))
})
