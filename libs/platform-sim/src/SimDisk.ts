/**
 * A simulated GPT disk: partitions by label, each with the bytes a reader sees now and the bytes
 * that are durable. Writes are pending until the partition is synced; a power cut resolves every
 * pending write through Durability (whole, torn or lost).
 */
import { Effect, Layer } from "effect"
import type { Slot } from "@keelos/domain"
import { BlockDevice } from "@keelos/platform"
import * as Durability from "./Durability.ts"
import type { PowerSupply } from "./Power.ts"
import type { Prng } from "./Prng.ts"
import type { Trace } from "./Trace.ts"

interface Partition {
  readonly label: Slot.PartitionLabel
  durable: Uint8Array
  current: Uint8Array
  pending: Array<Durability.PendingWrite>
  /** Bumped on every change of `current`. */
  generation: number
}

export class SimDisk {
  private readonly partitions = new Map<Slot.PartitionLabel, Partition>()

  private readonly power: PowerSupply
  private readonly trace: Trace

  constructor(layout: ReadonlyArray<readonly [Slot.PartitionLabel, number]>, power: PowerSupply, trace: Trace) {
    this.power = power
    this.trace = trace
    for (const [label, size] of layout) {
      this.partitions.set(label, { label, durable: new Uint8Array(size), current: new Uint8Array(size), pending: [], generation: 0 })
    }
  }

  has(label: Slot.PartitionLabel): boolean {
    return this.partitions.has(label)
  }

  sizeOf(label: Slot.PartitionLabel): number {
    return this.get(label).current.length
  }

  private get(label: Slot.PartitionLabel): Partition {
    const partition = this.partitions.get(label)
    if (partition === undefined) throw new Error(`no partition ${label}`)
    return partition
  }

  /** A number that changes whenever what `read` returns for the partition may have changed: for caches of its content. */
  generation(label: Slot.PartitionLabel): number {
    return this.get(label).generation
  }

  read(label: Slot.PartitionLabel, offset: number, length: number): Uint8Array {
    return this.get(label).current.slice(offset, offset + length)
  }

  /** What the partition holds at `offset`, without a copy: valid until the next write. */
  view(label: Slot.PartitionLabel, offset: number, length: number): Uint8Array {
    return this.get(label).current.subarray(offset, offset + length)
  }

  write(label: Slot.PartitionLabel, offset: number, bytes: Uint8Array): void {
    this.power.tick(`write ${label} @${offset}+${bytes.length}`)
    const partition = this.get(label)
    partition.current.set(bytes, offset)
    partition.generation++
    partition.pending.push({ offset, bytes: bytes.slice() })
    this.trace.record(`disk write ${label} @${offset}+${bytes.length}`)
  }

  sync(label: Slot.PartitionLabel): void {
    this.power.tick(`sync ${label}`)
    const partition = this.get(label)
    partition.durable = partition.current.slice()
    partition.pending = []
    this.trace.record(`disk sync ${label}`)
  }

  /** Writes that bypass the OS cache and land at once (the firmware's own block I/O). */
  writeThrough(label: Slot.PartitionLabel, offset: number, bytes: Uint8Array): void {
    const partition = this.get(label)
    partition.current.set(bytes, offset)
    partition.generation++
    partition.durable.set(bytes, offset)
    this.trace.record(`firmware write ${label} @${offset}+${bytes.length}`)
  }

  /** The power went off: every pending write lands whole, torn or not at all. */
  crash(prng: Prng, rates: Durability.FaultRates): void {
    for (const partition of this.partitions.values()) {
      if (partition.pending.length === 0) continue
      let durable = partition.durable
      for (const write of partition.pending) {
        const outcome = Durability.drawOutcome(prng, rates)
        this.trace.record(`crash ${partition.label} @${write.offset}+${write.bytes.length}: ${outcome}`)
        durable = Durability.land(durable, write, outcome, prng)
      }
      partition.durable = durable
      partition.current = durable.slice()
      partition.generation++
      partition.pending = []
    }
  }

  /** sync(2): every pending write of every partition becomes durable. */
  flushAll(): void {
    for (const partition of this.partitions.values()) {
      if (partition.pending.length === 0) continue
      partition.durable = partition.current.slice()
      partition.pending = []
    }
  }

  /** True when nothing is waiting for a sync. */
  get clean(): boolean {
    for (const partition of this.partitions.values()) if (partition.pending.length > 0) return false
    return true
  }

  /** BlockDevices over this disk. */
  layer(): Layer.Layer<BlockDevice.BlockDevices> {
    const disk = this
    const outOfRange = (operation: "read" | "write", label: string, detail: string) =>
      new BlockDevice.BlockDeviceError({ operation, device: label, reason: "OutOfRange", detail })
    return Layer.succeed(BlockDevice.BlockDevices)({
      open: (label) =>
        disk.has(label)
          ? Effect.succeed<BlockDevice.BlockDevice>({
            label,
            path: `/dev/disk/by-partlabel/${label}`,
            sizeBytes: disk.sizeOf(label),
            read: (offset, length) =>
              offset < 0 || offset + length > disk.sizeOf(label)
                ? Effect.fail(outOfRange("read", label, `${offset}+${length}`))
                : Effect.sync(() => disk.read(label, offset, length)),
            readInto: (offset, into) =>
              offset < 0 || offset + into.length > disk.sizeOf(label)
                ? Effect.fail(outOfRange("read", label, `${offset}+${into.length}`))
                : Effect.sync(() => into.set(disk.view(label, offset, into.length))),
            write: (offset, data) =>
              offset < 0 || offset + data.length > disk.sizeOf(label)
                ? Effect.fail(outOfRange("write", label, `${offset}+${data.length}`))
                : Effect.sync(() => disk.write(label, offset, data)),
            sync: Effect.sync(() => disk.sync(label)),
            // Reads here already see exactly what the disk holds; there is no cache to drop.
            dropCache: () => Effect.void
          })
          : Effect.fail(new BlockDevice.BlockDeviceError({ operation: "open", device: label, reason: "NotFound", detail: "no partition with this label" }))
    })
  }
}
