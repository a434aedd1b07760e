#!/usr/bin/env node
/** osctl: the composition root. Parses argv, runs the command, reports failures in one line. */
import { Cause, Console, Effect } from "effect"
import { Command, CliError } from "effect/cli"
import { NodeRuntime, NodeServices } from "@keelos/platform-node/NodeMain"
import { bootenv } from "./commands/bootenv.ts"
import { bootstrap } from "./commands/bootstrap.ts"
import { cluster } from "./commands/cluster.ts"
import { config } from "./commands/config.ts"
import { gen } from "./commands/gen.ts"
import { image } from "./commands/image.ts"
import { nodeCommands } from "./commands/node.ts"
import { schedule } from "./commands/schedule.ts"
import { update } from "./commands/update.ts"
import { osctl } from "./commands/root.ts"
import * as Errors from "./Errors.ts"

export const version = "0.1.0"

export const cli = osctl.pipe(Command.withSubcommands([...nodeCommands, update, schedule, bootstrap, config, gen, image, bootenv, cluster]))

const main = cli.pipe(
  Command.run({ version }),
  Effect.catchCause((cause) => {
    const failure = Cause.squash(cause)
    // effect/cli has already printed usage and the reason for bad flags and arguments.
    if (CliError.isCliError(failure)) return Effect.sync(() => void (process.exitCode = 2))
    const { line, exitCode } = Errors.report(cause)
    return Effect.andThen(Console.error(line), Effect.sync(() => void (process.exitCode = exitCode)))
  }),
  Effect.provide(NodeServices.layer)
)

NodeRuntime.runMain(main, { disableErrorReporting: true })
