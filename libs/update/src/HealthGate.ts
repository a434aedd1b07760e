/**
 * The health gate a trial boot must pass before its slot becomes the last known good one: every
 * check runs each interval under its own timeout; the gate passes once every required check has
 * passed in every round for the whole stability window, and fails when the gate's timeout comes
 * first. Optional checks are reported, never decisive. Time is Effect's Clock, so the gate runs
 * unchanged on the simulator's virtual clock.
 */
import { Clock, Duration, Effect } from "effect"

export interface Check {
  readonly name: string
  readonly required: boolean
  readonly timeoutMillis: number
  /** Succeeds when healthy; fails with a one-line reason otherwise. */
  readonly run: Effect.Effect<void, string>
}

export interface CheckResult {
  readonly name: string
  readonly required: boolean
  readonly ok: boolean
  readonly detail: string | null
  readonly atMillis: number
}

export interface Options {
  readonly intervalMillis: number
  /** Required checks must pass continuously this long. */
  readonly stabilityMillis: number
  /** The gate fails when it has not passed after this long. */
  readonly timeoutMillis: number
}

export const defaults: Options = { intervalMillis: 5_000, stabilityMillis: 30_000, timeoutMillis: 300_000 }

export type Verdict =
  | { readonly _tag: "Passed"; readonly results: ReadonlyArray<CheckResult>; readonly elapsedMillis: number }
  | { readonly _tag: "Failed"; readonly reason: string; readonly results: ReadonlyArray<CheckResult>; readonly elapsedMillis: number }

/** Runs every check once, concurrently, each under its timeout. */
export const runOnce = (checks: ReadonlyArray<Check>): Effect.Effect<ReadonlyArray<CheckResult>> =>
  Effect.forEach(checks, (check) =>
    check.run.pipe(
      Effect.timeoutOrElse({
        duration: Duration.millis(check.timeoutMillis),
        orElse: () => Effect.fail(`no answer within ${check.timeoutMillis} ms`)
      }),
      Effect.as(null),
      Effect.catch((reason: string) => Effect.succeed(reason)),
      Effect.flatMap((detail) => Effect.map(Clock.currentTimeMillis, (atMillis): CheckResult => ({ name: check.name, required: check.required, ok: detail === null, detail, atMillis })))
    ), { concurrency: "unbounded" })

const failing = (results: ReadonlyArray<CheckResult>) => results.filter((r) => r.required && !r.ok)

export const describeFailures = (results: ReadonlyArray<CheckResult>): string =>
  failing(results).map((r) => `${r.name}: ${r.detail}`).join("; ")

/** Runs the gate to its verdict; `onRound` sees every round's results (for progress and GetHealth). */
export const run = (
  checks: ReadonlyArray<Check>,
  options: Options,
  onRound: (results: ReadonlyArray<CheckResult>) => Effect.Effect<void> = () => Effect.void
): Effect.Effect<Verdict> =>
  Effect.gen(function*() {
    const start = yield* Clock.currentTimeMillis
    let stableSince: number | null = null
    let results: ReadonlyArray<CheckResult> = []
    while (true) {
      results = yield* runOnce(checks)
      yield* onRound(results)
      const now = yield* Clock.currentTimeMillis
      if (failing(results).length === 0) {
        stableSince ??= now
        if (now - stableSince >= options.stabilityMillis) return { _tag: "Passed", results, elapsedMillis: now - start }
      } else {
        stableSince = null
      }
      if (now - start >= options.timeoutMillis) {
        const reason = failing(results).length > 0
          ? describeFailures(results)
          : `healthy for only ${now - (stableSince ?? now)} ms of the ${options.stabilityMillis} ms stability window`
        return { _tag: "Failed", reason: `not healthy after ${Math.round(options.timeoutMillis / 1000)} s: ${reason}`, results, elapsedMillis: now - start }
      }
      yield* Effect.sleep(Duration.millis(options.intervalMillis))
    }
  })
