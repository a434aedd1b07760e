/**
 * The persisted state of the update engine (DESIGN §4): the current phase with its attempt
 * count, versions, last error and timestamps; what each slot holds as far as the engine verified
 * it; the download to resume after an interruption; the versions that were rolled back; and the
 * bounded history of installs and rollbacks.
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

const Bytes = Schema.Int.check(Schema.isGreaterThanOrEqualTo(0))
const Sha256 = Schema.String.check(Schema.isPattern(/^[0-9a-f]{64}$/))

/**
 * What a slot holds as far as the engine knows: an image it wrote and read back (with its digest
 * and size), or the image the node booted healthy from (the factory image: no digest recorded).
 */
export const SlotImage = Schema.Struct({
  /** Null when the image came from a direct URL without a version. */
  version: Schema.NullOr(Version),
  sha256: Schema.NullOr(Sha256),
  sizeBytes: Schema.NullOr(Bytes),
  verifiedAtMillis: EpochMillis
})
export type SlotImage = typeof SlotImage.Type

/** A download into a slot that may be resumed: the first `syncedBytes` are on the device and synced. */
export const PendingDownload = Schema.Struct({
  url: Schema.String,
  sha256: Sha256,
  sizeBytes: Bytes,
  slot: Slot,
  syncedBytes: Bytes
})
export type PendingDownload = typeof PendingDownload.Type

/** Rolled-back versions remembered (newest kept). */
export const rolledBackLimit = 32

export class UpdateState extends Schema.Class<UpdateState>("UpdateState")({
  phase: UpdatePhase,
  attempt: Schema.Int.check(Schema.isGreaterThanOrEqualTo(0)),
  fromVersion: Schema.NullOr(Version),
  toVersion: Schema.NullOr(Version),
  targetSlot: Schema.NullOr(Slot),
  lastError: Schema.NullOr(Schema.String),
  startedAtMillis: Schema.NullOr(EpochMillis),
  updatedAtMillis: EpochMillis,
  /** What the engine wrote and verified in each slot; null when it does not know (factory image). */
  slots: Schema.Struct({ A: Schema.NullOr(SlotImage), B: Schema.NullOr(SlotImage) }),
  download: Schema.NullOr(PendingDownload),
  /** Versions that failed their trial or were rolled back by hand: not installed again without force. */
  rolledBack: Schema.Array(Version),
  /** The health gate's timeout asked for with this update; null: the node's default. */
  healthTimeoutMillis: Schema.NullOr(Schema.Int.check(Schema.isGreaterThan(0)))
}) {}

/** The state of a node whose engine never ran. */
export const initial = (nowMillis: number): UpdateState =>
  new UpdateState({
    phase: "idle",
    attempt: 0,
    fromVersion: null,
    toVersion: null,
    targetSlot: null,
    lastError: null,
    startedAtMillis: null,
    updatedAtMillis: nowMillis,
    slots: { A: null, B: null },
    download: null,
    rolledBack: [],
    healthTimeoutMillis: null
  })

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

/** What the periodic channel check found last (persisted beside the state as `update/check.json`). */
export class UpdateCheck extends Schema.Class<UpdateCheck>("UpdateCheck")({
  source: Schema.String,
  mode: Schema.Literals(["check", "install"]),
  atMillis: EpochMillis,
  /** A version this node would install from the source now; null when there is none or the check failed. */
  available: Schema.NullOr(Version),
  message: Schema.String,
  /** The schedule the check made for it (install mode), if any. */
  scheduleId: Schema.NullOr(Schema.String)
}) {}
