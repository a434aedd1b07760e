/**
 * The GRUB environment block stored on the simulated ESP, and the simulated firmware that reads
 * it at power-on. The firmware is the decision table of libs/boot (BootDecision), the same rows the
 * real grub.cfg is generated from.
 */
import { Effect, Layer, Result } from "effect"
import type { Slot } from "@keelos/domain"
import { BootDecision, EnvBlock } from "@keelos/boot"
import { BootEnvBlock } from "@keelos/platform"
import type { SimDisk } from "./SimDisk.ts"
import type { Trace } from "./Trace.ts"

/** Where the block lives on the ESP partition (any sector-aligned offset would do). */
export const envOffset = 4096

/** BootEnvBlock over the simulated ESP: an in-place 1024-byte write, then a sync. */
export const layer = (disk: SimDisk): Layer.Layer<BootEnvBlock.BootEnvBlock> =>
  Layer.succeed(BootEnvBlock.BootEnvBlock)({
    read: Effect.sync(() => disk.read("EFI-SYSTEM", envOffset, EnvBlock.blockSize)),
    write: (block) =>
      block.length !== EnvBlock.blockSize
        ? Effect.fail(new BootEnvBlock.BootEnvBlockError({ operation: "write", reason: "WrongSize", detail: `${block.length} bytes` }))
        : Effect.sync(() => {
          disk.write("EFI-SYSTEM", envOffset, block)
          disk.sync("EFI-SYSTEM")
        })
  })

/** Writes the block an image build installs: KEEL_ACTIVE=A. */
export const install = (disk: SimDisk, active: Slot.Slot = "A"): void => {
  const block = Result.getOrThrow(EnvBlock.set(EnvBlock.create(), "KEEL_ACTIVE", active))
  disk.writeThrough("EFI-SYSTEM", envOffset, block)
}

export type PowerOnResult =
  | { readonly _tag: "Booted"; readonly decision: BootDecision.Decision }
  | { readonly _tag: "EnvUnreadable"; readonly error: EnvBlock.EnvBlockError }

/** What GRUB does at power-on: decide from the block and save the counter in place. */
export const powerOn = (disk: SimDisk, trace: Trace): PowerOnResult => {
  const block = disk.read("EFI-SYSTEM", envOffset, EnvBlock.blockSize)
  const result = BootDecision.boot(block)
  if (Result.isFailure(result)) {
    trace.record(`firmware: env unreadable: ${result.failure.reason}`)
    return { _tag: "EnvUnreadable", error: result.failure }
  }
  disk.writeThrough("EFI-SYSTEM", envOffset, result.success.block)
  trace.record(`firmware: boot ${result.success.decision.boot} (${result.success.decision.rule.then.why})`)
  return { _tag: "Booted", decision: result.success.decision }
}
