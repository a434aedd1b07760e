#!/usr/bin/env node
/**
 * keel-init, the composition root of PID 1: read the configuration, wire the real platform, run
 * the init program. `keel-init [CONFIG]` (default /etc/keel/init.json). In host mode it makes
 * itself a child subreaper (so orphans of its services come to it, as they would to PID 1), prints
 * the outcome as JSON and exits; on a node it never returns.
 *
 * Not yet here (issue #3 continues): early boot (API filesystems, modules, loopback, hostname, the
 * data partition), the watchdog, and running without a stage 1 as the initramfs /init.
 */
import { Cause, Console, Effect } from "effect"
import { Init, InitConfig } from "@keelos/init"
import * as NodeConfigFile from "@keelos/platform-node/NodeConfigFile"
import * as NodePlatform from "@keelos/platform-node/NodePlatform"
import * as NodePower from "@keelos/platform-node/NodePower"
import * as NodeReaper from "@keelos/platform-node/NodeReaper"

const configFile = process.argv[2] ?? InitConfig.configPath

export const version = "0.1.0"

const main = Effect.gen(function*() {
  yield* Console.log(`keel-init ${version} starting as pid ${process.pid}`)
  const config = yield* NodeConfigFile.load(InitConfig.InitConfig, configFile)
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
Effect.runFork(main)
