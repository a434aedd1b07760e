#!/usr/bin/env node
/**
 * keel-init, the composition root of PID 1: read the configuration, wire the real platform, run
 * the init program. `keel-init [CONFIG]` (default /etc/keel/init.json). In host mode it makes
 * itself a child subreaper (so orphans of its services come to it, as they would to PID 1), prints
 * the outcome as JSON and exits; on a node it never returns.
 *
 * As the initramfs /init of a kernel booted without KeelOS's stage 1, the configuration there says
 * `initramfs`: keel-init mounts the slot, switches root and execs keel-init from the slot as the
 * same PID 1 (StageOne); a failure there powers off, as stage 1 does, rather than loop.
 */
import { Cause, Console, Effect, Layer, Schema } from "effect"
import { Init, InitConfig, StageOne } from "@keelos/init"
import * as NodeConfigFile from "@keelos/platform-node/NodeConfigFile"
import * as NodeMain from "@keelos/platform-node/NodeMain"
import * as NodePlatform from "@keelos/platform-node/NodePlatform"
import * as NodePower from "@keelos/platform-node/NodePower"
import * as NodeReaper from "@keelos/platform-node/NodeReaper"
import * as NodeSwitchRoot from "@keelos/platform-node/NodeSwitchRoot"

export const version = "0.1.0"

const main = (configFile: string) => Effect.gen(function*() {
  yield* Console.log(`keel-init ${version} starting as pid ${process.pid}`)
  const config = yield* NodeConfigFile.load(Schema.Union([InitConfig.InitConfig, StageOne.StageOneConfig]), configFile)
  if (config.mode === "initramfs") {
    if (process.pid !== 1) return yield* Effect.fail("the initramfs configuration is for PID 1 only")
    return yield* StageOne.run(config).pipe(
      Effect.provide(Layer.merge(NodePlatform.layer, NodeSwitchRoot.layer)),
      Effect.catch((error) =>
        Effect.gen(function*() {
          yield* Console.error(`keel-init: FATAL ${error.message}; powering off`)
          yield* Effect.ignore(NodePower.make.switchOff("poweroff"))
        })
      )
    )
  }
  if (config.mode === "host" && !NodeReaper.becomeSubreaper()) return yield* Effect.fail("cannot become a child subreaper")
  const outcome = yield* Init.runGuarded(config).pipe(Effect.provide(NodePlatform.layer))
  yield* Console.log(JSON.stringify({ outcome }))
}).pipe(
  Effect.catch((problem) =>
    Effect.andThen(
      Console.error(`keel-init: ${typeof problem === "string" ? problem : problem.message}`),
      Effect.sync(() => void (process.exitCode = 2))
    )
  ),
  // PID 1 must never exit (the kernel panics): anything unforeseen ends in an emergency reboot.
  Effect.catchCause((cause) =>
    Effect.gen(function*() {
      yield* Console.error(`keel-init: defect: ${String(Cause.squash(cause)).split("\n")[0]}`)
      if (process.pid !== 1) return yield* Effect.sync(() => void (process.exitCode = 70))
      yield* NodePower.make.sync
      yield* Effect.ignore(NodePower.make.switchOff("reboot"))
    })
  ),
  Effect.andThen(Effect.suspend(() => (process.pid === 1 ? Effect.andThen(Console.error("keel-init: nothing left to run; rebooting"), Effect.ignore(NodePower.make.switchOff("reboot"))) : Effect.void)))
)

// Not NodeRuntime.runMain: its SIGINT/SIGTERM handlers would end PID 1. Signals are init's to handle.
NodeMain.onStart((args) => void Effect.runFork(main(args[0] ?? InitConfig.configPath)))
