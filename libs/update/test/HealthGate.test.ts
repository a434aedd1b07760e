import { assert, describe, it } from "@effect/vitest"
import { Clock, Effect, Fiber } from "effect"
import { TestClock } from "effect/testing"
import { HealthGate } from "../src/index.ts"

const options: HealthGate.Options = { intervalMillis: 1_000, stabilityMillis: 10_000, timeoutMillis: 60_000 }

/** A check that is healthy when `healthy(nowMillis)` says so. */
const check = (name: string, healthy: (now: number) => boolean, required = true): HealthGate.Check => ({
  name,
  required,
  timeoutMillis: 500,
  run: Effect.flatMap(Clock.currentTimeMillis, (now) => (healthy(now) ? Effect.void : Effect.fail(`${name} down at ${now}`)))
})

const verdictAfter = (checks: ReadonlyArray<HealthGate.Check>, millis: number) =>
  Effect.gen(function*() {
    const fiber = yield* Effect.forkChild(HealthGate.run(checks, options))
    yield* TestClock.adjust(millis)
    return yield* Fiber.join(fiber)
  })

describe("HealthGate", () => {
  it.effect("passes once required checks held for the whole stability window", () =>
    Effect.gen(function*() {
      const verdict = yield* verdictAfter([check("a", () => true)], 120_000)
      assert.strictEqual(verdict._tag, "Passed")
      assert.strictEqual(verdict.elapsedMillis, 10_000)
    }))

  it.effect("a failure inside the window restarts it", () =>
    Effect.gen(function*() {
      // Down at 5 s only: stable from 6 s, so the gate passes at 16 s.
      const verdict = yield* verdictAfter([check("flaky", (now) => now !== 5_000)], 120_000)
      assert.strictEqual(verdict._tag, "Passed")
      assert.strictEqual(verdict.elapsedMillis, 16_000)
    }))

  it.effect("fails at the timeout naming the failing required check; optional checks never decide", () =>
    Effect.gen(function*() {
      const verdict = yield* verdictAfter([check("kubelet", () => false), check("extra", () => false, false), check("ok", () => true)], 120_000)
      assert.strictEqual(verdict._tag, "Failed")
      assert.strictEqual(verdict.elapsedMillis, 60_000)
      assert.match(verdict._tag === "Failed" ? verdict.reason : "", /^not healthy after 60 s: kubelet: kubelet down at 60000$/)
      const passed = yield* verdictAfter([check("ok", () => true), check("extra", () => false, false)], 120_000)
      assert.strictEqual(passed._tag, "Passed")
    }))

  it.effect("a check that hangs counts as failed after its own timeout", () =>
    Effect.gen(function*() {
      const hang: HealthGate.Check = { name: "hang", required: true, timeoutMillis: 500, run: Effect.never }
      const verdict = yield* verdictAfter([hang], 120_000)
      assert.strictEqual(verdict._tag, "Failed")
      assert.strictEqual(verdict.results[0]?.detail, "no answer within 500 ms")
    }))

  it.effect("healthy too late for a full window fails, saying so", () =>
    Effect.gen(function*() {
      const verdict = yield* verdictAfter([check("late", (now) => now >= 55_000)], 120_000)
      assert.strictEqual(verdict._tag, "Failed")
      assert.match(verdict._tag === "Failed" ? verdict.reason : "", /healthy for only .* of the 10000 ms stability window/)
    }))
})
