/**
 * KeelOS release versions on the wire and on disk: semantic versions without build metadata (two
 * builds of one version would be ambiguous for the downgrade and rollback gates). Ordering is
 * SemVer precedence, from Effect's SemVer.
 */
import { Result, Schema, SemVer } from "effect"

const pattern = /^(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)(?:-([0-9A-Za-z-]+(?:\.[0-9A-Za-z-]+)*))?$/

export const Version = Schema.String.check(Schema.isPattern(pattern)).pipe(Schema.brand("Version"))
export type Version = typeof Version.Type

const parsed = (version: Version): SemVer.SemVer => Result.getOrThrow(SemVer.parse(version))

/** SemVer precedence: negative when `a < b`, zero when equal, positive when `a > b`. */
export const compare = (a: Version, b: Version): number => SemVer.Order(parsed(a), parsed(b))
