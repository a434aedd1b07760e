/** The `osctl` root command and the flags every subcommand shares. */
import { Command, Flag } from "effect/cli"

export const osctl = Command.make("osctl").pipe(
  Command.withSharedFlags({
    output: Flag.Literals("output", ["text", "json"]).pipe(
      Flag.withAlias("o"),
      Flag.withDescription("Output format: text for people, json for scripts"),
      Flag.withDefault("text")
    )
  }),
  Command.withDescription("Operate KeelOS nodes")
)
