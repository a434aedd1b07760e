import { assert, describe, it } from "@effect/vitest"
import { Effect, Fiber, Layer } from "effect"
import { TestClock } from "effect/testing"
import { BootControl } from "@keelos/boot"
import { UpdateEngine, UpdateScheduler } from "../src/index.ts"
import { channelFiles, channelUrl, engineOn, image, machine, serve } from "./helpers.ts"

/** Monday 30 November 2026, 11:58 UTC. */
const start = Date.UTC(2026, 10, 30, 11, 58)
const v2 = image(2, 150_000)

const scheduled = (hardware: ReturnType<typeof machine>) => {
  const node = engineOn(hardware, { version: "0.1.0" })
  const layer = UpdateScheduler.layer("/var/lib/keel/update/schedule.json").pipe(Layer.provideMerge(node.layer))
  return { node, layer }
}

/** Moves the virtual clock a second at a time, so the scheduler and the install run in between. */
const seconds = (n: number) =>
  Effect.gen(function*() {
    for (let i = 0; i < n; i++) yield* TestClock.adjust(1_000)
  })

/** Schedules an update of the test channel into Monday's 12:00-12:30 window and starts the loop. */
const noonWindow = (scheduler: UpdateScheduler["Service"], extra: { readonly healthTimeoutMillis?: number } = {}) =>
  Effect.gen(function*() {
    const added = yield* scheduler.add({ source: channelUrl, window: "Mon 12:00-12:30 UTC", autoRollback: true, actor: "alice", ...extra })
    const loop = yield* Effect.forkChild(scheduler.run)
    return { added, loop }
  })

describe("UpdateScheduler", () => {
  it.effect("installs inside a window that opens two minutes after scheduling, and not before", () =>
    Effect.gen(function*() {
      yield* TestClock.setTime(start)
      const hardware = machine(11)
      const log = serve(hardware, "updates.test", channelFiles({ version: "0.2.0", body: v2 }))
      const { layer, node } = scheduled(hardware)
      const result = yield* Effect.gen(function*() {
        const scheduler = yield* UpdateScheduler
        const { added, loop } = yield* noonWindow(scheduler, { healthTimeoutMillis: 120_000 })
        assert.strictEqual(added.nextStartMillis, Date.UTC(2026, 10, 30, 12))
        yield* TestClock.adjust(90_000)
        const before = log.length
        yield* TestClock.adjust(60_000)
        yield* seconds(10)
        const schedules = yield* scheduler.list
        const env = yield* (yield* BootControl.BootControl).read
        const state = yield* (yield* UpdateEngine).state
        yield* Fiber.interrupt(loop)
        return { before, schedules, env, state }
      }).pipe(Effect.provide(layer))
      assert.strictEqual(result.before, 0, "nothing was fetched before the window opened")
      assert.deepStrictEqual([result.schedules[0]?.state, result.schedules[0]?.lastMessage], ["done", "activated 0.2.0; the node reboots into it"])
      assert.deepStrictEqual([result.env.next, result.state.phase, result.state.healthTimeoutMillis], ["B", "activated", 120_000])
      assert.match(node.reboots[0]!, /asked by schedule [0-9a-f]{8} \(by alice\)/)
    }))

  it.effect("abandons an install the window closes on before activation, and resumes it in the next opening", () =>
    Effect.gen(function*() {
      yield* TestClock.setTime(Date.UTC(2026, 10, 30, 12, 29, 59))
      const hardware = machine(12)
      serve(hardware, "updates.test", channelFiles({ version: "0.2.0", body: v2 }))
      hardware.network.setFaults({ drop: 0, truncate: 0, corrupt: 0, maxLatencyMillis: 3_000 })
      const { layer } = scheduled(hardware)
      const result = yield* Effect.gen(function*() {
        const scheduler = yield* UpdateScheduler
        const { loop } = yield* noonWindow(scheduler)
        yield* seconds(30)
        const schedules = yield* scheduler.list
        const env = yield* (yield* BootControl.BootControl).read
        yield* Fiber.interrupt(loop)
        return { schedules, env }
      }).pipe(Effect.provide(layer))
      assert.strictEqual(result.env.next, null, "nothing was activated after the window closed")
      assert.strictEqual(result.schedules[0]?.state, "pending")
      assert.match(result.schedules[0]?.lastMessage ?? "", /window closed before the update was activated.*next window/)
      assert.strictEqual(result.schedules[0]?.nextStartMillis, Date.UTC(2026, 11, 7, 12))
    }))

  it.effect("after a transient failure tries again in the same window a minute later, not at once", () =>
    Effect.gen(function*() {
      yield* TestClock.setTime(Date.UTC(2026, 10, 30, 12, 0, 0))
      const hardware = machine(14)
      const log = serve(hardware, "updates.test", [], { status: 503 })
      const { layer } = scheduled(hardware)
      const result = yield* Effect.gen(function*() {
        const scheduler = yield* UpdateScheduler
        const { loop } = yield* noonWindow(scheduler)
        yield* seconds(30)
        const first = { requests: log.length, schedule: (yield* scheduler.list)[0] }
        yield* seconds(40)
        const second = log.length
        yield* Fiber.interrupt(loop)
        return { first, second }
      }).pipe(Effect.provide(layer))
      assert.strictEqual(result.first.schedule?.state, "pending")
      assert.match(result.first.schedule?.lastMessage ?? "", /HTTP 503; trying again in 60 s while the window is open/)
      assert.strictEqual(result.first.requests, 1, "one attempt, then a pause")
      assert.strictEqual(result.second, 2, "the second attempt a minute later")
    }))

  it.effect("refuses a bad window or source, cancels, and survives a restart", () =>
    Effect.gen(function*() {
      yield* TestClock.setTime(start)
      const hardware = machine(13)
      const { layer } = scheduled(hardware)
      const first = yield* Effect.gen(function*() {
        const scheduler = yield* UpdateScheduler
        const bad = yield* Effect.flip(scheduler.add({ source: channelUrl, window: "someday", autoRollback: false, actor: "a" }))
        assert.match(bad.message, /BadRequest: "someday": a window is DAYS/)
        const badSource = yield* Effect.flip(scheduler.add({ source: "nope", window: "Sat 02:00-04:00 UTC", autoRollback: false, actor: "a" }))
        assert.match(badSource.message, /BadRequest: "nope" is not a URL/)
        const one = yield* scheduler.add({ source: channelUrl, window: "Sat 02:00-04:00 UTC", autoRollback: false, actor: "a" })
        yield* scheduler.add({ source: channelUrl, window: "Sun 02:00-04:00 UTC", autoRollback: false, actor: "a" })
        const cancelled = yield* scheduler.cancel(one.id, "bob")
        assert.strictEqual(cancelled.lastMessage, "cancelled by bob")
        const again = yield* Effect.flip(scheduler.cancel(one.id, "bob"))
        assert.match(again.message, /already cancelled/)
        return one.id
      }).pipe(Effect.provide(layer))
      // A new agent on the same disk reads the schedules back.
      const after = yield* Effect.flatMap(UpdateScheduler, (s) => s.list).pipe(Effect.provide(scheduled(hardware).layer))
      assert.deepStrictEqual(after.map((s) => [s.id === first, s.state, s.window]), [[true, "cancelled", "Sat 02:00-04:00 UTC"], [false, "pending", "Sun 02:00-04:00 UTC"]])
    }))
})
