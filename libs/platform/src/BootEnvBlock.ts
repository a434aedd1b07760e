/**
 * The 1024-byte GRUB environment block on the ESP, as raw storage. GRUB's `save_env` rewrites it
 * in place through its block list, so userspace must too: one 1024-byte write at offset 0 and a
 * sync, never a truncate or a rename. Decoding lives in libs/boot.
 */
import { Context, Effect, Schema } from "effect"

export class BootEnvBlockError extends Schema.TaggedError<BootEnvBlockError>()("BootEnvBlockError", {
  operation: Schema.Literals(["read", "write"]),
  reason: Schema.Literals(["NotFound", "WrongSize", "Io"]),
  detail: Schema.String
}) {
  override get message(): string {
    return `boot environment ${this.operation}: ${this.reason}: ${this.detail}`
  }
}

export class BootEnvBlock extends Context.Service<BootEnvBlock, {
  readonly read: Effect.Effect<Uint8Array, BootEnvBlockError>
  /** Rewrites the block in place and makes it durable before succeeding. */
  readonly write: (block: Uint8Array) => Effect.Effect<void, BootEnvBlockError>
}>()("@keelos/platform/BootEnvBlock") {}
