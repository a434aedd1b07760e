/**
 * What a command-line entry point needs from the real platform, importable on its own so a small
 * program (osctl, keel-agent) does not load every platform layer at start.
 */
import * as v8 from "node:v8"
import { Effect } from "effect"
import * as NodeRuntime from "@effect/platform-node/NodeRuntime"
export { NodeRuntime }
export * as NodeServices from "@effect/platform-node/NodeServices"
export * as NodeDaemonServices from "./NodeDaemonServices.ts"
export * as NodeSocket from "@effect/platform-node/NodeSocket"

/** Where a process's start went, in milliseconds since it began: Node's own start-up, then the modules. */
export interface StartTimes {
  /** Node ready to run the program (its bootstrap done; started from a startup snapshot, with the modules in it). */
  readonly nodeMillis: number
  /** Now: the program's modules evaluated and whatever it has done since. */
  readonly nowMillis: number
}

/** For a service to say how long its start took and where (keel-agent's "serving" line). */
export const startTimes: Effect.Effect<StartTimes> = Effect.sync(() => ({
  nodeMillis: performance.nodeTiming.bootstrapComplete,
  nowMillis: performance.now()
}))

/**
 * Starts a program with its arguments (those after the script). Run while Node builds a startup
 * snapshot of the bundle (`keel-bundle --snapshot`), it only registers the start for when the
 * snapshot runs: the modules are then already evaluated, which under TCG saves most of a service's
 * start. Started from a snapshot, `process.argv[1]` is the first argument (there is no script).
 */
export const onStart = (start: (args: ReadonlyArray<string>) => void): void => {
  if (v8.startupSnapshot.isBuildingSnapshot()) v8.startupSnapshot.setDeserializeMainFunction(() => start(process.argv.slice(1)))
  else start(process.argv.slice(2))
}

/** Runs a program's main (NodeRuntime.runMain: interrupted by SIGINT and SIGTERM) when it starts (onStart). */
export const runProgram = <A, E>(
  main: (args: ReadonlyArray<string>) => Effect.Effect<A, E>,
  options?: { readonly disableErrorReporting?: boolean }
): void => onStart((args) => NodeRuntime.runMain(main(args), options))
