/**
 * Pets the watchdog while the node is alive: every `intervalMillis`, the supervision tree must
 * answer a ping within `answerWithinMillis`, or petting stops and the watchdog resets the machine
 * (a hung PID 1 cannot be repaired from inside). A node without a watchdog device runs without one,
 * and says so.
 */
import { Console, Duration, Effect } from "effect"
import { Watchdog } from "@keelos/platform"

export interface Options {
  readonly intervalMillis: number
  readonly answerWithinMillis: number
}

/**
 * Returns only when there is no watchdog. Otherwise pets until interrupted (which disarms it), or
 * until the tree stops answering, after which it waits for the reset without disarming.
 */
export const run = (alive: Effect.Effect<void>, options: Options): Effect.Effect<"no-watchdog", never, Watchdog.Watchdog> =>
  Effect.scoped(Effect.gen(function*() {
    const watchdog = yield* Watchdog.Watchdog
    const armed = yield* Effect.result(watchdog.arm)
    if (armed._tag === "Failure") {
      yield* Console.log(`keel-init: running without a watchdog (${armed.failure.message})`)
      return "no-watchdog" as const
    }
    for (;;) {
      const answered = yield* alive.pipe(Effect.timeoutOption(Duration.millis(options.answerWithinMillis)))
      if (answered._tag === "None") {
        yield* Console.error(`keel-init: supervision tree did not answer within ${options.answerWithinMillis} ms; no longer petting the watchdog`)
        // Never disarm: leaving the scope would do the magic close, so wait here until reset.
        return yield* Effect.never
      }
      yield* Effect.ignore(armed.success.pet)
      yield* Effect.sleep(Duration.millis(options.intervalMillis))
    }
  }))
