/**
 * How many times this node has booted, counted by keel-init on the data partition at every boot
 * (after mounting it) and read by the agent for its metrics.
 */
import { Schema } from "effect"

export const file = "/var/lib/keel/init/boot-count.json"

export const BootCount = Schema.Struct({ boots: Schema.Int.check(Schema.isGreaterThanOrEqualTo(0)) })
export type BootCount = typeof BootCount.Type

export const initial: BootCount = { boots: 0 }
