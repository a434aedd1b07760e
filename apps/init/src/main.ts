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
import * as fs from "node:fs"
import { Effect, Layer, Schema } from "effect"
import { NodeSocketServer } from "@effect/platform-node"
import { Init, InitConfig } from "@keelos/init"
import { NodePlatform, NodeReaper } from "@keelos/platform-node"

const configFile = process.argv[2] ?? InitConfig.configPath

const load = Effect.try({
  try: () => JSON.parse(fs.readFileSync(configFile, "utf8")) as unknown,
  catch: (error) => `cannot read ${configFile}: ${(error as Error).message}`
}).pipe(
  Effect.flatMap((json) =>
    Effect.mapError(Schema.decodeUnknownEffect(InitConfig.InitConfig)(json), (issue) => `invalid ${configFile}: ${String(issue).replace(/\s*\n\s*/g, "; ")}`)
  )
)

const main = Effect.gen(function*() {
  const config = yield* load
  if (config.mode === "host" && !NodeReaper.becomeSubreaper()) yield* Effect.fail("cannot become a child subreaper")
  fs.rmSync(config.controlSocket, { force: true })
  const platform = Layer.mergeAll(NodePlatform.layer, NodeSocketServer.layer({ path: config.controlSocket }))
  const outcome = yield* Init.runGuarded(config).pipe(Effect.provide(platform))
  console.log(JSON.stringify({ outcome }))
}).pipe(
  Effect.catch((problem: unknown) =>
    Effect.sync(() => {
      console.error(`keel-init: ${String(problem)}`)
      process.exitCode = 2
    })
  )
)

// Not NodeRuntime.runMain: its SIGINT/SIGTERM handlers would end PID 1. Signals are init's to handle.
Effect.runFork(main)
