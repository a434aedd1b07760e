/**
 * The two root slots of a KeelOS disk and the GPT partition labels that name every partition
 * (DESIGN §3). Partitions are always found by label, never by device name.
 */
import { Schema } from "effect"

/** One of the two root slots; each holds one OS image written raw. */
export const Slot = Schema.Literals(["A", "B"])
export type Slot = typeof Slot.Type

export const slots: ReadonlyArray<Slot> = ["A", "B"]

/** The slot that is not `slot`. */
export const other = (slot: Slot): Slot => (slot === "A" ? "B" : "A")

/** GPT partition labels of the KeelOS disk layout. */
export const PartitionLabel = Schema.Literals([
  "EFI-SYSTEM",
  "BIOS-BOOT",
  "KEELOS_ROOT_A",
  "KEELOS_ROOT_B",
  "KEELOS_DATA"
])
export type PartitionLabel = typeof PartitionLabel.Type

/** The partition label of a root slot. */
export const rootLabel = (slot: Slot): PartitionLabel => (slot === "A" ? "KEELOS_ROOT_A" : "KEELOS_ROOT_B")

/** Where the data partition is mounted: the only writable place on a node. */
export const dataMountPoint = "/var/lib/keel"

/** Where keel-init mounts the EFI system partition, home of the GRUB environment block. */
export const espMountPoint = "/run/keel/esp"
