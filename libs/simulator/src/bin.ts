#!/usr/bin/env node
/**
 * `npm run sim -- [--seed N | --seeds K [--from S]] [--scenario NAME] [--boots N] [--jobs J] [--json]`
 *
 * Prints the seed first, runs the scenarios, and on failure prints the violated invariant, the
 * end of the trace and the exact command that replays the run. Exits 1 when any seed fails.
 * `--jobs J` splits the seeds over J processes (default 2; seeds are independent, and each
 * verdict depends only on its seed, so the split changes nothing but the time).
 */
import { Effect, Stream } from "effect"
import { ChildProcess, ChildProcessSpawner } from "effect/process"
import { NodeServices } from "@keelos/platform-node/NodeMain"
import * as Simulator from "./Simulator.ts"
import { byName, scenarios } from "./scenarios/index.ts"
import type { Scenario } from "./Scenario.ts"

interface Args {
  readonly seed?: number
  readonly seeds: number
  readonly from: number
  readonly scenario?: string
  readonly boots?: number
  readonly jobs: number
  readonly json: boolean
  /** Internal: run the seeds and print one JSON summary line (a process of --jobs). */
  readonly worker: boolean
}

const usage = "usage: npm run sim -- [--seed N | --seeds K [--from S]] [--scenario NAME] [--boots N] [--jobs J] [--json]"

const integerFlags: Record<string, { readonly key: "seed" | "seeds" | "from" | "boots" | "jobs"; readonly positive: boolean }> = {
  "--jobs": { key: "jobs", positive: true },
  "--seed": { key: "seed", positive: false },
  "--seeds": { key: "seeds", positive: true },
  "--from": { key: "from", positive: false },
  "--boots": { key: "boots", positive: true }
}

const parse = (argv: ReadonlyArray<string>): Args | string => {
  const args: { -readonly [K in keyof Args]?: Args[K] } = { seeds: 1, from: 1, jobs: 2, json: false, worker: false }
  for (let i = 0; i < argv.length; i++) {
    const flag = argv[i]!
    const value = argv[i + 1]
    const int = () => {
      if (value === undefined || !/^\d+$/.test(value)) return undefined
      i++
      return Number(value)
    }
    const integer = integerFlags[flag]
    if (integer !== undefined) {
      const n = int()
      if (n === undefined || (integer.positive && n === 0)) return `${flag} needs a ${integer.positive ? "positive" : "non-negative"} integer\n${usage}`
      args[integer.key] = n
      continue
    }
    switch (flag) {
      case "--scenario":
        if (value === undefined) return `--scenario needs a name: ${scenarios.map((s) => s.name).join(", ")}`
        args.scenario = value
        i++
        break
      case "--json":
        args.json = true
        break
      case "--worker":
        args.worker = true
        break
      case "--help":
      case "-h":
        return usage
      default:
        return `unknown argument ${JSON.stringify(flag)}\n${usage}`
    }
  }
  return args as Args
}

interface Summary {
  readonly passed: number
  readonly failed: number
  readonly cuts: number
  readonly failures: ReadonlyArray<Simulator.Verdict>
}

const runSeeds = (args: Args, selected: ReadonlyArray<Scenario>, seeds: ReadonlyArray<number>) =>
  Effect.gen(function*() {
    let passed = 0
    let cuts = 0
    const failures: Array<Simulator.Verdict> = []
    for (const scenario of selected) {
      for (const seed of seeds) {
        const verdict = yield* Simulator.run({ seed, scenario, ...(args.boots === undefined ? {} : { boots: args.boots }) })
        cuts += verdict.powerCuts
        if (verdict.ok) passed++
        else failures.push(verdict)
        if (args.json && seeds.length === 1) console.log(JSON.stringify(verdict))
        else if (seeds.length === 1) {
          console.log(`boots ${verdict.boots}, power cuts ${verdict.powerCuts}, hardware operations ${verdict.operations}, trace ${verdict.traceDigest}`)
        }
      }
    }
    return { passed, failed: failures.length, cuts, failures } satisfies Summary
  })

/**
 * The workers collect garbage on their own thread: with as many workers as cores, V8's helper
 * threads only take CPU from the other worker. (KEEL_SIM_GC_FLAGS overrides, for measuring.)
 */
const gcFlags = (process.env["KEEL_SIM_GC_FLAGS"] ?? "--single-threaded-gc").split(" ").filter((f) => f.length > 0)

/** The seeds split into `--jobs` contiguous ranges, each run by this program in its own process. */
const inProcesses = (args: Args, seeds: ReadonlyArray<number>) =>
  Effect.gen(function*() {
    const spawner = yield* ChildProcessSpawner.ChildProcessSpawner
    const size = Math.ceil(seeds.length / args.jobs)
    const ranges = Array.from({ length: args.jobs }, (_, i) => seeds.slice(i * size, (i + 1) * size)).filter((r) => r.length > 0)
    const parts = yield* Effect.forEach(ranges, (range) =>
      Effect.scoped(Effect.gen(function*() {
        const handle = yield* spawner.spawn(ChildProcess.make(process.execPath, [
          ...gcFlags,
          import.meta.filename, "--worker", "--seeds", String(range.length), "--from", String(range[0]),
          ...(args.scenario === undefined ? [] : ["--scenario", args.scenario]),
          ...(args.boots === undefined ? [] : ["--boots", String(args.boots)])
        ], { stdout: "pipe", stderr: "inherit" }))
        const output = yield* Stream.mkString(Stream.decodeText(handle.stdout))
        const code = yield* handle.exitCode
        const last = output.trim().split("\n").at(-1) ?? ""
        if (!last.startsWith("{")) return yield* Effect.fail(new Error(`a simulation process exited with ${code} without a summary`))
        return JSON.parse(last) as Summary
      })), { concurrency: "unbounded" })
    return {
      passed: parts.reduce((n, p) => n + p.passed, 0),
      failed: parts.reduce((n, p) => n + p.failed, 0),
      cuts: parts.reduce((n, p) => n + p.cuts, 0),
      failures: parts.flatMap((p) => p.failures)
    } satisfies Summary
  }).pipe(Effect.provide(NodeServices.layer))

const main = Effect.gen(function*() {
  const args = parse(process.argv.slice(2))
  if (typeof args === "string") {
    console.error(args)
    process.exitCode = 2
    return
  }
  let selected: ReadonlyArray<Scenario> = scenarios
  if (args.scenario !== undefined) {
    const one = byName(args.scenario)
    if (one === undefined) {
      console.error(`unknown scenario ${JSON.stringify(args.scenario)}: known are ${scenarios.map((s) => s.name).join(", ")}`)
      process.exitCode = 2
      return
    }
    selected = [one]
  }
  // A worker's failures are reported as invariants and replayed one seed at a time with full stacks;
  // without stacks, every Effect.fn call skips capturing its call site.
  if (args.worker && process.env["KEEL_SIM_STACKS"] !== "1") Error.stackTraceLimit = 0
  const seeds = args.seed !== undefined ? [args.seed] : Array.from({ length: args.seeds }, (_, i) => args.from + i)
  const names = selected.map((s) => s.name).join(",")
  if (!args.worker) console.log(
    seeds.length === 1
      ? `keel-sim: seed ${seeds[0]} scenario ${names}`
      : `keel-sim: seeds ${seeds[0]}..${seeds[seeds.length - 1]} scenario ${names}`
  )
  const summary = seeds.length > 1 && args.jobs > 1 && !args.worker
    ? yield* inProcesses(args, seeds)
    : yield* runSeeds(args, selected, seeds)
  if (args.worker) {
    console.log(JSON.stringify({ ...summary, failures: summary.failures.slice(0, 5) }))
    return
  }
  const { cuts, failed, failures, passed } = summary
  for (const verdict of failures.slice(0, 5)) {
    console.log(`\nFAILED seed ${verdict.seed} (${verdict.scenario})`)
    for (const v of verdict.violations) console.log(`  boot ${v.boot}: ${v.invariant}: ${v.detail}`)
    console.log("  trace (last lines):")
    for (const line of verdict.traceTail) console.log(`    ${line}`)
    console.log(`  replay: ${Simulator.replayCommand(verdict)}`)
  }
  if (failures.length > 5) console.log(`\n... and ${failures.length - 5} more failing seeds`)
  console.log(`power cuts simulated: ${cuts}`)
  console.log(`${passed} passed, ${failed} failed`)
  if (failed > 0) process.exitCode = 1
})

Effect.runPromise(main).catch((error: unknown) => {
  console.error(`keel-sim: ${String(error)}`)
  process.exitCode = 1
})
