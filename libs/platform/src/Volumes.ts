/**
 * Finding a volume by what its first bytes say, on any block device (whole disks and partitions):
 * how keel-init finds a NoCloud seed (a FAT volume labelled CIDATA on a second disk or a USB stick).
 */
import { Context, type Effect, type Option } from "effect"

export class Volumes extends Context.Service<Volumes, {
  /** The device node of the first block device whose first `headBytes` bytes `accept`; devices that cannot be read are skipped. */
  readonly find: (headBytes: number, accept: (head: Uint8Array) => boolean) => Effect.Effect<Option.Option<string>>
}>()("@keelos/platform/Volumes") {}
