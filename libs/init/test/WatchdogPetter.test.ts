import { assert, describe, it } from "@effect/vitest"
import { Clock, Effect, Fiber, Layer } from "effect"
import { TestClock } from "effect/testing"
import { Watchdog } from "@keelos/platform"
import { WatchdogPetter } from "../src/index.ts"

const recording = () => {
  const events: Array<string> = []
  const layer = Layer.succeed(Watchdog.Watchdog)({
    arm: Effect.acquireRelease(
      Effect.sync(() => events.push("arm")),
      () => Effect.sync(() => void events.push("magic close"))
    ).pipe(Effect.as({ pet: Effect.flatMap(Clock.currentTimeMillis, (t) => Effect.sync(() => void events.push(`pet ${t}`))) }))
  })
  return { events, layer }
}

const step = (millis: number) =>
  Effect.gen(function*() {
    for (let t = 0; t < millis; t += 100) {
      for (let i = 0; i < 10; i++) yield* Effect.yieldNow
      yield* TestClock.adjust(100)
    }
  })

describe("watchdog petter", () => {
  it.effect("pets while the tree answers, stops when it wedges, and never disarms then", () =>
    Effect.gen(function*() {
      const w = recording()
      let wedged = false
      const alive = Effect.suspend(() => (wedged ? Effect.never : Effect.void))
      const fiber = yield* Effect.forkChild(WatchdogPetter.run(alive, { intervalMillis: 1_000, answerWithinMillis: 500 }).pipe(Effect.provide(w.layer)))
      yield* step(2_500)
      wedged = true
      yield* step(5_000)
      assert.deepStrictEqual(w.events, ["arm", "pet 0", "pet 1000", "pet 2000"])
      assert.isUndefined(fiber.pollUnsafe())
    }))

  it.effect("disarms with the magic close when stopped in order", () =>
    Effect.gen(function*() {
      const w = recording()
      const fiber = yield* Effect.forkChild(WatchdogPetter.run(Effect.void, { intervalMillis: 1_000, answerWithinMillis: 500 }).pipe(Effect.provide(w.layer)))
      yield* step(1_500)
      yield* Fiber.interrupt(fiber)
      assert.deepStrictEqual(w.events, ["arm", "pet 0", "pet 1000", "magic close"])
    }))

  it.effect("runs without a watchdog when there is none", () =>
    Effect.gen(function*() {
      const missing = Layer.succeed(Watchdog.Watchdog)({
        arm: Effect.fail(new Watchdog.WatchdogError({ operation: "open", reason: "NotFound", detail: "/dev/watchdog" }))
      })
      assert.strictEqual(yield* WatchdogPetter.run(Effect.void, { intervalMillis: 1_000, answerWithinMillis: 500 }).pipe(Effect.provide(missing)), "no-watchdog")
    }))
})
