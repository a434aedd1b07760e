/**
 * Block devices found by GPT partition label (DESIGN §3): the root slots and the ESP are written
 * raw through this contract. A write is durable only after `sync` returns; the simulated device
 * loses, tears or keeps unsynced writes on a power cut, so callers must sync before they rely on
 * what they wrote.
 */
import { Context, Effect, Schema } from "effect"
import type { Scope } from "effect"
import { Slot } from "@keelos/domain"

export const BlockDeviceReason = Schema.Literals(["NotFound", "OutOfRange", "Io"])

export class BlockDeviceError extends Schema.TaggedError<BlockDeviceError>()("BlockDeviceError", {
  operation: Schema.Literals(["open", "read", "write", "sync"]),
  device: Schema.String,
  reason: BlockDeviceReason,
  detail: Schema.String
}) {
  override get message(): string {
    return `${this.operation} ${this.device}: ${this.reason}: ${this.detail}`
  }
}

/** An open partition. Offsets and lengths are in bytes. */
export interface BlockDevice {
  readonly label: Slot.PartitionLabel
  /** The device node (`/dev/vda4`), for tools such as mkfs. */
  readonly path: string
  readonly sizeBytes: number
  readonly read: (offset: number, length: number) => Effect.Effect<Uint8Array, BlockDeviceError>
  /**
   * Fills `into` with the bytes at `offset`: for reading a whole partition through one buffer
   * instead of allocating one per read (gigabytes of short-lived buffers cost a collection every
   * few megabytes).
   */
  readonly readInto: (offset: number, into: Uint8Array) => Effect.Effect<void, BlockDeviceError>
  readonly write: (offset: number, data: Uint8Array) => Effect.Effect<void, BlockDeviceError>
  /** Makes every write before it durable. */
  readonly sync: Effect.Effect<void, BlockDeviceError>
  /**
   * Asks the kernel to forget its cached copy of a synced range, so the next read of it comes
   * from the device: a read-back then verifies the medium, not memory.
   */
  readonly dropCache: (offset: number, length: number) => Effect.Effect<void, BlockDeviceError>
}

export class BlockDevices extends Context.Service<BlockDevices, {
  /** Opens the partition with this GPT label; closed when the scope closes. */
  readonly open: (label: Slot.PartitionLabel) => Effect.Effect<BlockDevice, BlockDeviceError, Scope.Scope>
}>()("@keelos/platform/BlockDevices") {}
