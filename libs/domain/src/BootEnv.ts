/**
 * The bootloader state of a node (DESIGN §3), as stored in the GRUB environment block.
 *
 * GRUB reads and writes these variables itself (the boot counter), so the variable names and the
 * meaning of each value are part of the on-disk format.
 */
import { Schema } from "effect"
import { Slot } from "./Slot.ts"

/** The environment-block variable names, in the order GRUB saves them. */
export const BootVariable = {
  active: "KEEL_ACTIVE",
  next: "KEEL_NEXT",
  tries: "KEEL_TRIES",
  booted: "KEEL_BOOTED"
} as const
export type BootVariable = (typeof BootVariable)[keyof typeof BootVariable]

/** Boots a slot on trial gets when it is activated. */
export const trialBoots = 3

/** Remaining trial boots: GRUB only knows the literal values 0..3 (it has no arithmetic). */
export const Tries = Schema.Int.check(Schema.isBetween({ minimum: 0, maximum: trialBoots }))

export class BootEnv extends Schema.Class<BootEnv>("BootEnv")({
  /** Last known good slot. */
  active: Slot,
  /** Slot on trial, if any. */
  next: Schema.NullOr(Slot),
  /** Boots left for `next`; GRUB decrements before booting it. */
  tries: Tries,
  /** The slot GRUB booted last, so userspace can tell a fallback from a normal boot. */
  booted: Schema.NullOr(Slot)
}) {
  /** True when this boot is a trial boot of `next`. */
  get onTrial(): boolean {
    return this.next !== null && this.booted === this.next
  }
}
