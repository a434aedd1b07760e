/**
 * What a command-line entry point needs from the real platform, importable on its own so a small
 * program (osctl, keel-agent) does not load every platform layer at start.
 */
import * as nodeModule from "node:module"
import { Effect } from "effect"
export * as NodeRuntime from "@effect/platform-node/NodeRuntime"
export * as NodeServices from "@effect/platform-node/NodeServices"
export * as NodeSocket from "@effect/platform-node/NodeSocket"

/**
 * Writes the compile cache ($NODE_COMPILE_CACHE) now rather than at exit: a service that runs until
 * the power goes (keel-agent) would otherwise never leave one for the next boot.
 */
export const flushCompileCache: Effect.Effect<void> = Effect.sync(() => nodeModule.flushCompileCache())

/** Where a process's start went, in milliseconds since it began: Node's own start-up, then the modules. */
export interface StartTimes {
  /** Node ready to run the program (its bootstrap done). */
  readonly nodeMillis: number
  /** Now: the program's modules evaluated and whatever it has done since. */
  readonly nowMillis: number
}

/** For a service to say how long its start took and where (keel-agent's "serving" line). */
export const startTimes: Effect.Effect<StartTimes> = Effect.sync(() => ({
  nodeMillis: performance.nodeTiming.bootstrapComplete,
  nowMillis: performance.now()
}))
