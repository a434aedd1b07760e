/**
 * The one error of the update engine: which step failed and why, in words an operator can act on.
 * Gate refusals carry `Refused`; a busy engine `Busy`; everything the network or the disk did wrong
 * has its own reason so retries can tell transient from final.
 */
import { Schema } from "effect"

export const UpdateOperation = Schema.Literals(["check", "download", "write", "verify", "activate", "health", "rollback", "state"])
export type UpdateOperation = typeof UpdateOperation.Type

export const UpdateReason = Schema.Literals([
  /** A gate said no (signature, expiry, channel, arch, version, rolled back). */
  "Refused",
  /** Another update is running. */
  "Busy",
  /** The bad input: a source that is not a URL, a missing digest. */
  "BadRequest",
  /** The server could not be reached or the transfer broke (transient: retried). */
  "Transfer",
  /** The server answered with a status that is not the content. */
  "HttpStatus",
  /** The bytes do not hash to the expected SHA-256 (corrupt download or disk). */
  "Integrity",
  /** The image does not fit the slot, or the data partition is full. */
  "NoSpace",
  /** The device or the state file failed. */
  "Io",
  /** The health gate did not pass. */
  "Unhealthy",
  /** The operation makes no sense in the node's current state (no trial, nothing to roll back to). */
  "InvalidState",
  /** The maintenance window closed before the update was activated. */
  "WindowClosed",
  /** A pre-update hook said no (or did not answer). */
  "HookFailed"
])
export type UpdateReason = typeof UpdateReason.Type

export class UpdateError extends Schema.TaggedError<UpdateError>()("UpdateError", {
  operation: UpdateOperation,
  reason: UpdateReason,
  detail: Schema.String
}) {
  override get message(): string {
    return `${this.operation}: ${this.reason}: ${this.detail}`
  }
}

export const make = (operation: UpdateOperation, reason: UpdateReason, detail: string) => new UpdateError({ operation, reason, detail })
