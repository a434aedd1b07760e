import { assert, describe, it } from "@effect/vitest"
import { Effect, Fiber, Layer, Random } from "effect"
import { TestClock } from "effect/testing"
import { ChannelWatch, UpdateEngine, UpdateScheduler } from "../src/index.ts"
import { channelFiles, channelUrl, engineOn, image, machine, serve } from "./helpers.ts"

/** Monday 30 November 2026, 11:00 UTC. */
const start = Date.UTC(2026, 10, 30, 11)
const hour = 3_600_000
const v2 = image(2, 100_000)

const watching = (hardware: ReturnType<typeof machine>, config: ChannelWatch.WatchConfig, version = "0.1.0") => {
  const node = engineOn(hardware, { version })
  const scheduler = UpdateScheduler.layer("/var/lib/keel/update/schedule.json").pipe(Layer.provideMerge(node.layer))
  return ChannelWatch.ChannelWatch.layer(config, "/var/lib/keel/update/check.json").pipe(Layer.provideMerge(scheduler))
}

const config = (mode: ChannelWatch.WatchConfig["mode"], window: string | null = null): ChannelWatch.WatchConfig => ({
  mode,
  source: channelUrl,
  intervalMillis: 6 * hour,
  jitterMillis: hour,
  window
})

/** Runs the watch loop for `millis` of virtual time and returns what it left behind. */
const runFor = (millis: number) =>
  Effect.gen(function*() {
    const watch = yield* ChannelWatch.ChannelWatch
    const loop = yield* Effect.forkChild(watch.run)
    for (let t = 0; t < millis; t += 60_000) yield* TestClock.adjust(60_000)
    yield* Fiber.interrupt(loop)
    return {
      last: yield* watch.last,
      schedules: yield* (yield* UpdateScheduler).list,
      state: yield* (yield* UpdateEngine).state
    }
  })

describe("ChannelWatch", () => {
  it.effect("check mode: checks within the jitter after start, then every interval; records the version, downloads nothing", () =>
    Effect.gen(function*() {
      yield* TestClock.setTime(start)
      const hardware = machine(21)
      const log = serve(hardware, "updates.test", channelFiles({ version: "0.2.0", body: v2 }))
      const result = yield* Effect.gen(function*() {
        const watch = yield* ChannelWatch.ChannelWatch
        const loop = yield* Effect.forkChild(watch.run)
        const advance = (millis: number) => Effect.gen(function*() {
          for (let t = 0; t < millis; t += 60_000) yield* TestClock.adjust(60_000)
          return { last: yield* watch.last, schedules: yield* (yield* UpdateScheduler).list, state: yield* (yield* UpdateEngine).state }
        })
        const first = yield* advance(hour + 60_000)
        const later = yield* advance(7 * hour)
        yield* Fiber.interrupt(loop)
        return { first, later }
      }).pipe(Effect.provide(watching(hardware, config("check"))))
      assert.strictEqual(result.first.last?.available, "0.2.0")
      assert.strictEqual(result.first.last?.message, "0.2.0 is available")
      assert.isTrue(result.first.last!.atMillis <= start + hour + 60_000, "the first check came within the jitter")
      const gap = result.later.last!.atMillis - result.first.last!.atMillis
      assert.isTrue(gap >= 6 * hour && gap <= 7 * hour + 60_000, `the next check came an interval (plus jitter) later: ${gap}`)
      assert.deepStrictEqual(result.later.schedules, [])
      assert.strictEqual(result.later.state.phase, "idle")
      assert.isFalse(log.some((line) => line.includes(".img")), "the image was not fetched")
    }))

  it.effect("the jitter comes from the seeded Random: two seeds check at different times, one seed always at the same", () =>
    Effect.gen(function*() {
      const firstCheck = (seed: number) =>
        Effect.gen(function*() {
          yield* TestClock.setTime(start)
          const hardware = machine(22)
          serve(hardware, "updates.test", channelFiles({ version: "0.2.0", body: v2 }))
          const { last } = yield* runFor(hour + 60_000).pipe(Effect.provide(watching(hardware, config("check"))), Random.withSeed(seed))
          return last!.atMillis - start
        })
      const a = yield* firstCheck(1)
      const b = yield* firstCheck(2)
      const again = yield* firstCheck(1)
      assert.strictEqual(a, again)
      assert.notStrictEqual(a, b)
      for (const offset of [a, b]) assert.isTrue(offset >= 0 && offset < hour + 60_000, `${offset}`)
    }))

  it.effect("install mode: schedules the available version into the window once, and installs it there", () =>
    Effect.gen(function*() {
      yield* TestClock.setTime(start)
      const hardware = machine(23)
      serve(hardware, "updates.test", channelFiles({ version: "0.2.0", body: v2 }))
      const watch = { ...config("install", "daily 18:00-19:00 UTC"), jitterMillis: 0 }
      const result = yield* Effect.gen(function*() {
        const scheduler = yield* UpdateScheduler
        const running = yield* Effect.forkChild(scheduler.run)
        const first = yield* runFor(60_000)
        const second = yield* (yield* ChannelWatch.ChannelWatch).checkNow
        // The window opens at 18:00; the install runs in it.
        for (let t = 0; t < 6 * hour; t += 60_000) yield* TestClock.adjust(60_000)
        for (let t = 0; t < hour; t += 10_000) yield* TestClock.adjust(10_000)
        yield* Fiber.interrupt(running)
        return { first, second, schedules: yield* scheduler.list, state: yield* (yield* UpdateEngine).state }
      }).pipe(Effect.provide(watching(hardware, watch)))
      assert.match(result.first.last!.message, /^0\.2\.0 is available; scheduled [0-9a-f]{8} in daily 18:00-19:00 UTC$/)
      assert.strictEqual(result.second.scheduleId, result.first.last!.scheduleId, "the second check found the same schedule")
      assert.strictEqual(result.schedules.length, 1)
      assert.strictEqual(result.schedules[0]?.createdBy, ChannelWatch.actor)
      assert.strictEqual(result.schedules[0]?.state, "done")
      assert.deepStrictEqual([result.state.phase, result.state.toVersion], ["activated", "0.2.0"])
    }))

  it.effect("install mode: nothing is scheduled when the channel offers the version the node runs", () =>
    Effect.gen(function*() {
      yield* TestClock.setTime(start)
      const hardware = machine(24)
      serve(hardware, "updates.test", channelFiles({ version: "0.1.0", body: v2 }))
      const result = yield* runFor(7 * hour).pipe(Effect.provide(watching(hardware, config("install", "daily 18:00-19:00 UTC"))))
      assert.strictEqual(result.last?.available, null)
      assert.match(result.last!.message, /^nothing to install: this node already runs 0\.1\.0/)
      assert.deepStrictEqual(result.schedules, [])
    }))

  it("refuses configurations that cannot work, with the reason", () => {
    assert.strictEqual(ChannelWatch.invalid(config("off")), null)
    assert.strictEqual(ChannelWatch.invalid(config("check")), null)
    assert.strictEqual(ChannelWatch.invalid(config("install")), "install mode needs a maintenance window")
    assert.match(ChannelWatch.invalid(config("install", "someday")) ?? "", /a window is DAYS HH:MM-HH:MM UTC/)
    assert.match(ChannelWatch.invalid({ ...config("check"), source: "http://updates.test/os.img" }) ?? "", /not an image URL/)
    assert.match(ChannelWatch.invalid({ ...config("check"), source: "ftp://x" }) ?? "", /is not a source/)
  })
})
