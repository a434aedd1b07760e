/**
 * The one error of the registry client: which step failed and why, with a reason a caller can act
 * on (retry `Unreachable`, ask for credentials on `Unauthorized`, never trust after `Integrity`).
 */
import { Schema } from "effect"

export const RegistryReason = Schema.Literals([
  /** The registry could not be reached, or it failed with a 5xx or 429 (transient). */
  "Unreachable",
  /** No credentials, or the registry rejected them. */
  "Unauthorized",
  /** Authenticated, but not allowed to do this. */
  "Denied",
  /** No such repository, tag, manifest or blob. */
  "NotFound",
  /** Content does not hash to its digest (the registry served corrupted bytes). */
  "Integrity",
  /** The registry answered something the distribution specification does not allow. */
  "Protocol",
  /** A document larger than the client accepts. */
  "TooLarge",
  /** A reference or a request the client does not understand. */
  "BadReference"
])
export type RegistryReason = typeof RegistryReason.Type

export class RegistryError extends Schema.TaggedError<RegistryError>()("RegistryError", {
  operation: Schema.String,
  reason: RegistryReason,
  detail: Schema.String
}) {
  override get message(): string {
    return `${this.operation}: ${this.detail}`
  }
}

export const make = (operation: string, reason: RegistryReason, detail: string) => new RegistryError({ operation, reason, detail })

/** The reason an HTTP status means when the body is not what was asked for. */
export const reasonOfStatus = (status: number): RegistryReason =>
  status === 401 ? "Unauthorized" : status === 403 ? "Denied" : status === 404 ? "NotFound" : status >= 500 || status === 429 || status === 408 ? "Unreachable" : "Protocol"
