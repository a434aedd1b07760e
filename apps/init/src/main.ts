#!/usr/bin/env node
/**
 * keel-init, the composition root of PID 1. This first cut reads what the kernel and the
 * bootloader handed over (the command line and the slot GRUB chose) through the real platform
 * layers and reports it; mounting, supervision and shutdown are built by the init issue (#3).
 */
import { Console, Effect, Layer } from "effect"
import { BootControl } from "@keelos/boot"
import { Kernel } from "@keelos/platform"
import { NodeBootEnvBlock, NodeKernel, NodeRuntime } from "@keelos/platform-node"

export const version = "0.1.0"

/** Where keel-init mounts the ESP and finds the boot environment block. */
export const envBlockPath = "/run/keel/esp/EFI/keel/grubenv"

const program = Effect.gen(function*() {
  const words = yield* Kernel.Kernel.use((k) => k.cmdline)
  const cmdline = Kernel.parseCmdline(words)
  yield* Console.log(`keel-init ${version}: slot ${cmdline.get("keel.slot") ?? "unknown"} (from the kernel command line)`)
  const env = yield* BootControl.BootControl.use((c) => c.read).pipe(Effect.option)
  if (env._tag === "Some") {
    yield* Console.log(`keel-init: boot environment: active ${env.value.active}, trial ${env.value.next ?? "none"}`)
  }
})

program.pipe(
  Effect.provide(Layer.mergeAll(NodeKernel.layer(), BootControl.BootControl.layer.pipe(Layer.provide(NodeBootEnvBlock.layer(envBlockPath))))),
  NodeRuntime.runMain
)
