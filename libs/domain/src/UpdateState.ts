/**
 * The persisted state of the update engine (DESIGN §4): the current phase with its attempt
 * count, versions, last error and timestamps, and the bounded history of installs and rollbacks.
 */
import { Schema } from "effect"
import { Slot } from "./Slot.ts"
import { Version } from "./Version.ts"

export const UpdatePhase = Schema.Literals([
  "idle",
  "checking",
  "downloading",
  "staged",
  "activated",
  "verifying",
  "success",
  "rolled_back",
  "failed"
])
export type UpdatePhase = typeof UpdatePhase.Type

/** Milliseconds since the Unix epoch, from Effect's Clock. */
export const EpochMillis = Schema.Int.check(Schema.isGreaterThanOrEqualTo(0))

export class UpdateState extends Schema.Class<UpdateState>("UpdateState")({
  phase: UpdatePhase,
  attempt: Schema.Int.check(Schema.isGreaterThanOrEqualTo(0)),
  fromVersion: Schema.NullOr(Version),
  toVersion: Schema.NullOr(Version),
  targetSlot: Schema.NullOr(Slot),
  lastError: Schema.NullOr(Schema.String),
  startedAtMillis: Schema.NullOr(EpochMillis),
  updatedAtMillis: EpochMillis
}) {}

export const HistoryKind = Schema.Literals(["install", "success", "rollback", "manual_rollback", "failure"])
export type HistoryKind = typeof HistoryKind.Type

export class HistoryEntry extends Schema.Class<HistoryEntry>("HistoryEntry")({
  kind: HistoryKind,
  atMillis: EpochMillis,
  fromVersion: Schema.NullOr(Version),
  toVersion: Schema.NullOr(Version),
  reason: Schema.String,
  /** Who asked: a certificate CN, "schedule", "health-gate" or "firmware". */
  actor: Schema.String
}) {}

/** Entries kept in the history journal; older ones are dropped first. */
export const historyLimit = 256
