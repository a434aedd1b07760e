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
