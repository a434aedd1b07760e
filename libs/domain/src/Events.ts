/**
 * Events a node records in its bounded journals and streams to clients: supervision, boot
 * selection and update phases. One tagged union so every consumer matches exhaustively.
 */
import { Schema } from "effect"
import { ServiceName } from "./ServiceSpec.ts"
import { Slot } from "./Slot.ts"
import { EpochMillis, UpdatePhase } from "./UpdateState.ts"

export const ServiceStarted = Schema.TaggedStruct("ServiceStarted", {
  atMillis: EpochMillis,
  service: ServiceName,
  pid: Schema.Int
})
export const ServiceExited = Schema.TaggedStruct("ServiceExited", {
  atMillis: EpochMillis,
  service: ServiceName,
  exitCode: Schema.NullOr(Schema.Int),
  signal: Schema.NullOr(Schema.String)
})
export const ServiceRestarting = Schema.TaggedStruct("ServiceRestarting", {
  atMillis: EpochMillis,
  service: ServiceName,
  delayMillis: Schema.Int
})
export const ServiceGaveUp = Schema.TaggedStruct("ServiceGaveUp", {
  atMillis: EpochMillis,
  service: ServiceName,
  reason: Schema.String
})
export const SlotBooted = Schema.TaggedStruct("SlotBooted", {
  atMillis: EpochMillis,
  slot: Slot,
  trial: Schema.Boolean
})
export const UpdatePhaseChanged = Schema.TaggedStruct("UpdatePhaseChanged", {
  atMillis: EpochMillis,
  from: UpdatePhase,
  to: UpdatePhase
})

export const NodeEvent = Schema.Union([
  ServiceStarted,
  ServiceExited,
  ServiceRestarting,
  ServiceGaveUp,
  SlotBooted,
  UpdatePhaseChanged
])
export type NodeEvent = typeof NodeEvent.Type
