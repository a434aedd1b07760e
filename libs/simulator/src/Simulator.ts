/**
 * The simulation runner: one seed in, one verdict out.
 *
 * For each boot it powers the simulated machine on (the firmware chooses a slot), checks the
 * scenario's invariants, maybe plans a power cut at a random hardware operation, runs the node's
 * production software over the simulated platform until it halts or loses power, resolves the
 * unsynced writes, and checks again. Every decision draws from the seed, and every hardware
 * operation is traced, so a seed replays exactly and two runs can be compared by trace digest.
 */
import { Cause, Effect, Exit, Fiber, Layer, Random, References } from "effect"
import { TestClock } from "effect/testing"
import { NodeHalted, type PlatformMutation, PowerLost, SimHardware } from "@keelos/platform-sim"
import type { Scenario, SimPlatform, Violation } from "./Scenario.ts"

export interface RunOptions {
  readonly seed: number
  readonly scenario: Scenario
  /** Boots per run. */
  readonly boots?: number
  /** Probability that a boot has a power cut planned. */
  readonly powerCutRate?: number
  readonly mutatePlatform?: PlatformMutation
  /** Virtual time a boot may take before the run is declared stuck. */
  readonly bootTimeoutMillis?: number
  /** Step of the virtual clock while the node's software waits. */
  readonly tickMillis?: number
}

export interface Verdict {
  readonly seed: number
  readonly scenario: string
  readonly ok: boolean
  readonly violations: ReadonlyArray<Violation & { readonly boot: number }>
  readonly boots: number
  readonly powerCuts: number
  readonly operations: number
  readonly traceDigest: string
  readonly traceTail: ReadonlyArray<string>
}

/** How a boot of the node software ended. */
type Ending = "halted" | "power-lost" | { readonly unexpected: string }

/**
 * Runs one boot of the node's software on the virtual clock: the clock advances in ticks while the
 * software waits, so timers, backoffs and timeouts fire deterministically. Undefined when the boot
 * is still running after `timeoutMillis` of virtual time.
 */
const onVirtualClock = <E>(software: Effect.Effect<void, E>, tickMillis: number, timeoutMillis: number) =>
  Effect.gen(function*() {
    const fiber = yield* Effect.forkChild(software)
    for (let elapsed = 0; elapsed <= timeoutMillis; elapsed += tickMillis) {
      yield* Effect.yieldNow
      const done = fiber.pollUnsafe()
      if (done !== undefined) return done
      yield* TestClock.adjust(tickMillis)
    }
    yield* Fiber.interrupt(fiber)
    return undefined
  }).pipe(Effect.provide(TestClock.layer()))

const classify = (exit: Exit.Exit<void, unknown>): Ending => {
  if (Exit.isSuccess(exit)) return { unexpected: "the node software returned instead of halting" }
  // A power cut in a finalizer comes after the failure it was cleaning up for, and Effect then
  // reports that typed failure as a defect too: look at every defect. Any other defect (one that
  // is not a tagged error of the code) is a bug, even beside a power cut.
  const defects = exit.cause.reasons.flatMap((reason) => (Cause.isDieReason(reason) ? [reason.defect] : []))
  const tagged = (defect: unknown) => typeof (defect as { readonly _tag?: unknown } | null)?._tag === "string"
  const unexpected = defects.some((defect) => !(defect instanceof PowerLost) && !(defect instanceof NodeHalted) && !tagged(defect))
  if (!unexpected && defects.some((defect) => defect instanceof PowerLost)) return "power-lost"
  if (!unexpected && defects.some((defect) => defect instanceof NodeHalted)) return "halted"
  return { unexpected: Cause.pretty(exit.cause).split("\n").slice(0, 6).join("\n") }
}

export const run = (options: RunOptions): Effect.Effect<Verdict> =>
  Effect.gen(function*() {
    const { seed, scenario } = options
    const boots = options.boots ?? scenario.boots ?? 24
    const powerCutRate = options.powerCutRate ?? scenario.powerCutRate ?? 0.5
    const hardware = new SimHardware({ seed, slotBytes: scenario.slotBytes })
    const scenarioRun = scenario.make()
    scenarioRun.install(hardware)
    const violations: Array<Violation & { readonly boot: number }> = []
    let powerCuts = 0

    for (let boot = 1; boot <= boots && violations.length === 0; boot++) {
      const poweredOn = hardware.powerOn()
      if (poweredOn._tag === "EnvUnreadable") {
        violations.push({ boot, invariant: "the firmware reads a valid boot environment", detail: poweredOn.error.message })
        break
      }
      for (const v of scenarioRun.afterPowerOn(hardware, poweredOn.decision)) violations.push({ ...v, boot })
      if (violations.length > 0) break

      if (hardware.prng.chance(powerCutRate)) hardware.power.planCut(1 + hardware.prng.int(scenario.operationsPerBoot))
      const platform: Layer.Layer<SimPlatform> = hardware.layer(options.mutatePlatform)
      const software = scenarioRun.boot(poweredOn.decision).pipe(
        Effect.provide(platform),
        Random.withSeed(hardware.prng.nextU32()),
        // The node's logs (retries, warnings) are noise across thousands of seeds; the trace is the record.
        Effect.provideService(References.MinimumLogLevel, "None"),
        // Spans are not part of what a run checks, and recording them costs on every Effect.fn call.
        Effect.provideService(References.TracerEnabled, false)
      )
      const exit = yield* onVirtualClock(software, options.tickMillis ?? scenario.tickMillis ?? 100, options.bootTimeoutMillis ?? 600_000)
      if (exit === undefined) {
        violations.push({ boot, invariant: "a boot ends (halts or loses power) in bounded time", detail: "still running on the virtual clock" })
        break
      }
      const ending = classify(exit)
      if (typeof ending === "object") {
        violations.push({ boot, invariant: "the node software only stops by halting or losing power", detail: ending.unexpected })
        break
      }
      if (ending === "power-lost") powerCuts++
      hardware.trace.record(`boot ${boot} ended: ${ending}`)
      hardware.crash()
      for (const v of scenarioRun.afterPowerOff(hardware)) violations.push({ ...v, boot })
    }

    return {
      seed,
      scenario: scenario.name,
      ok: violations.length === 0,
      violations,
      boots: hardware.bootCount,
      powerCuts,
      operations: hardware.power.operationCount,
      traceDigest: hardware.trace.digest(),
      traceTail: hardware.trace.tail(30)
    }
  })

/** The command that replays one seed. */
export const replayCommand = (verdict: Pick<Verdict, "seed" | "scenario">) =>
  `npm run sim -- --scenario ${verdict.scenario} --seed ${verdict.seed}`
