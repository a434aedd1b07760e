#!/usr/bin/env node
/**
 * `npm run sim -- [--seed N | --seeds K [--from S]] [--scenario NAME] [--boots N] [--json]`
 *
 * Prints the seed first, runs the scenarios, and on failure prints the violated invariant, the
 * end of the trace and the exact command that replays the run. Exits 1 when any seed fails.
 */
import { Effect } from "effect"
import * as Simulator from "./Simulator.ts"
import { byName, scenarios } from "./scenarios/index.ts"
import type { Scenario } from "./Scenario.ts"

interface Args {
  readonly seed?: number
  readonly seeds: number
  readonly from: number
  readonly scenario?: string
  readonly boots?: number
  readonly json: boolean
}

const usage = "usage: npm run sim -- [--seed N | --seeds K [--from S]] [--scenario NAME] [--boots N] [--json]"

const integerFlags: Record<string, { readonly key: "seed" | "seeds" | "from" | "boots"; readonly positive: boolean }> = {
  "--seed": { key: "seed", positive: false },
  "--seeds": { key: "seeds", positive: true },
  "--from": { key: "from", positive: false },
  "--boots": { key: "boots", positive: true }
}

const parse = (argv: ReadonlyArray<string>): Args | string => {
  const args: { -readonly [K in keyof Args]?: Args[K] } = { seeds: 1, from: 1, json: false }
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
      case "--help":
      case "-h":
        return usage
      default:
        return `unknown argument ${JSON.stringify(flag)}\n${usage}`
    }
  }
  return args as Args
}

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
  const seeds = args.seed !== undefined ? [args.seed] : Array.from({ length: args.seeds }, (_, i) => args.from + i)
  const names = selected.map((s) => s.name).join(",")
  console.log(
    seeds.length === 1
      ? `keel-sim: seed ${seeds[0]} scenario ${names}`
      : `keel-sim: seeds ${seeds[0]}..${seeds[seeds.length - 1]} scenario ${names}`
  )
  let passed = 0
  let failed = 0
  let cuts = 0
  const failures: Array<Simulator.Verdict> = []
  for (const scenario of selected) {
    for (const seed of seeds) {
      const verdict = yield* Simulator.run({ seed, scenario, ...(args.boots === undefined ? {} : { boots: args.boots }) })
      cuts += verdict.powerCuts
      if (verdict.ok) passed++
      else {
        failed++
        failures.push(verdict)
      }
      if (args.json && seeds.length === 1) console.log(JSON.stringify(verdict))
      else if (seeds.length === 1) {
        console.log(`boots ${verdict.boots}, power cuts ${verdict.powerCuts}, hardware operations ${verdict.operations}, trace ${verdict.traceDigest}`)
      }
    }
  }
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
