/** The `osctl` root command and the flags every subcommand shares. */
import { Command, Flag } from "effect/cli"

export const osctl = Command.make("osctl").pipe(
  Command.withSharedFlags({
    output: Flag.Literals("output", ["text", "json", "yaml"]).pipe(
      Flag.withAlias("o"),
      Flag.withDescription("Output format: text for people, json or yaml for scripts"),
      Flag.withDefault("text")
    ),
    nodes: Flag.String("nodes").pipe(
      Flag.withAlias("n"),
      Flag.withDescription("Nodes to act on, comma separated (host or host:port); default: the context's nodes"),
      Flag.optional
    ),
    context: Flag.String("context").pipe(Flag.withDescription("Context to use instead of the current one"), Flag.optional),
    osconfig: Flag.String("osconfig").pipe(
      Flag.withDescription("osctl config file (default $OSCTLCONFIG, then ~/.keelos/osctl.json)"),
      Flag.optional
    )
  }),
  Command.withDescription("Operate KeelOS nodes through their API (mutual TLS on port 50051)")
)
