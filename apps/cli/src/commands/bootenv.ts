/**
 * `osctl bootenv show FILE`: reads a GRUB environment block (for example copied off a node's ESP
 * with mcopy) and says which slot is good, which is on trial, and what the firmware will boot next.
 * `osctl bootenv grub-cfg`: prints the boot-counter grub.cfg generated from the decision table.
 */
import { Effect } from "effect"
import { Argument, Command } from "effect/cli"
import { BootControl, BootDecision, EnvBlock, GrubConfig } from "@keelos/boot"
import { BootEnvBlock } from "@keelos/platform"
import * as NodeBootEnvBlock from "@keelos/platform-node/NodeBootEnvBlock"
import { print } from "../Output.ts"
import { osctl } from "./root.ts"

const show = Command.make(
  "show",
  { file: Argument.String("file").pipe(Argument.withDescription("path of a grubenv file")) },
  Effect.fn(function*({ file }) {
    const { output } = yield* osctl
    const block = yield* Effect.provide(BootEnvBlock.BootEnvBlock.use((b) => b.read), NodeBootEnvBlock.layer(file))
    const variables = yield* Effect.fromResult(EnvBlock.decode(block))
    const env = BootControl.toBootEnv(variables)
    const decision = BootDecision.decide(variables)
    const report = {
      active: env.active,
      next: env.next,
      tries: env.tries,
      booted: env.booted,
      nextBoot: { slot: decision.boot, trial: decision.rule.then.boot === "next", why: decision.rule.then.why },
      variables: Object.fromEntries(variables)
    }
    yield* print(output, report, () =>
      [
        `last known good  ${env.active}`,
        `on trial         ${env.next === null ? "none" : `${env.next} (${env.tries} boots left)`}`,
        `booted last      ${env.booted ?? "unknown"}`,
        `next boot        ${decision.boot}: ${decision.rule.then.why}`
      ].join("\n"))
  })
).pipe(Command.withDescription("Show a boot environment block and what the firmware will boot next"))

const grubCfg = Command.make("grub-cfg", {}, () => print("text", null, () => GrubConfig.bootConfig())).pipe(
  Command.withDescription("Print the grub.cfg generated from the boot-counter decision table")
)

export const bootenv = Command.make("bootenv").pipe(
  Command.withDescription("Inspect the bootloader state"),
  Command.withSubcommands([show, grubCfg])
)

