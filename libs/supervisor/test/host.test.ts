/**
 * The supervisor with real processes and the real clock: a crashed child is restarted, output is
 * captured, and a child that ignores SIGTERM is killed after its grace period.
 */
import { spawnSync } from "node:child_process"
import { assert, describe, it } from "@effect/vitest"
import { Effect } from "effect"
import { NodePlatform } from "@keelos/platform-node"
import { Supervisor } from "../src/index.ts"
import { group, service } from "./helpers.ts"

const sh = (name: string, script: string, overrides: Parameters<typeof service>[1] = {}) =>
  service(name, { command: "/bin/sh", args: ["-c", script], env: { PATH: "/usr/bin:/bin" }, ...overrides })

const alive = (pid: number) => spawnSync("kill", ["-0", String(pid)]).status === 0
const quick = { initialMillis: 50, maxMillis: 200, resetAfterMillis: 60_000 }

describe("supervisor with real processes", () => {
  it.live("restarts a crashing child, keeps its output, and kills a SIGTERM-ignoring child after its grace", () =>
    Effect.gen(function*() {
      const sup = yield* Supervisor.make(group("root", [
        sh("crashy", "echo started $$; sleep 0.1; exit 3", { backoff: quick }),
        sh("stubborn", "trap '' TERM; echo ready; while true; do sleep 0.05; done", { shutdownGraceMillis: 700 })
      ]))
      yield* Effect.sleep("1500 millis")
      const crashy = (yield* sup.journal("crashy"))
      const starts = crashy.filter((e) => e._tag === "Started").length
      assert.isAtLeast(starts, 3)
      assert.isTrue(crashy.some((e) => e._tag === "Exited" && e.code === 3))
      const logs = (yield* sup.logs("crashy")).map((l) => l.line)
      assert.isAtLeast(logs.filter((l) => l.startsWith("started ")).length, 3)
      const stubborn = (yield* sup.statuses).find((s) => s.name === "stubborn")!
      assert.strictEqual(stubborn.state, "running")
      const pid = stubborn.pid!
      assert.isTrue(alive(pid))
      const before = Date.now()
      yield* sup.shutdown
      const took = Date.now() - before
      assert.isFalse(alive(pid))
      assert.isAtLeast(took, 650)
      assert.isBelow(took, 5_000)
      assert.deepStrictEqual((yield* sup.statuses).map((s) => s.state), ["stopped", "stopped"])
    }).pipe(Effect.provide(NodePlatform.layer)), 20_000)
})
