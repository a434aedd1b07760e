#!/usr/bin/env node
/**
 * keel-agent, the composition root of the node API. This first cut reports the boot environment
 * it would serve; the RPC server over mutual TLS is built by the agent issue (#7).
 */
import { Console, Effect, Layer } from "effect"
import { BootControl } from "@keelos/boot"
import { NodeBootEnvBlock, NodeRuntime } from "@keelos/platform-node"

export const version = "0.1.0"

const envBlockPath = process.env["KEEL_ENV_BLOCK"] ?? "/run/keel/esp/EFI/keel/grubenv"

const program = Effect.gen(function*() {
  const env = yield* BootControl.BootControl.use((c) => c.read)
  yield* Console.log(JSON.stringify({ version, bootEnv: env }))
})

program.pipe(
  Effect.provide(BootControl.BootControl.layer.pipe(Layer.provide(NodeBootEnvBlock.layer(envBlockPath)))),
  NodeRuntime.runMain
)
