/**
 * What a command-line entry point needs from the real platform, importable on its own so a small
 * program (osctl, keel-agent) does not load every platform layer at start.
 */
export * as NodeRuntime from "@effect/platform-node/NodeRuntime"
export * as NodeServices from "@effect/platform-node/NodeServices"
export * as NodeSocket from "@effect/platform-node/NodeSocket"
