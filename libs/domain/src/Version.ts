/**
 * KeelOS release versions: semantic versions (`MAJOR.MINOR.PATCH[-PRERELEASE]`), compared by
 * SemVer precedence. Build metadata is not allowed: two builds of one version would be ambiguous
 * for the downgrade and rollback gates.
 */
import { Schema } from "effect"

const pattern = /^(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)(?:-([0-9A-Za-z-]+(?:\.[0-9A-Za-z-]+)*))?$/

export const Version = Schema.String.check(Schema.isPattern(pattern)).pipe(Schema.brand("Version"))
export type Version = typeof Version.Type

const parts = (version: string) => {
  const match = pattern.exec(version)
  if (match === null) throw new Error(`not a version: ${version}`)
  return {
    core: [Number(match[1]), Number(match[2]), Number(match[3])] as const,
    pre: match[4] === undefined ? [] : match[4].split(".")
  }
}

const compareIdentifiers = (a: string, b: string): number => {
  const an = /^\d+$/.test(a)
  const bn = /^\d+$/.test(b)
  if (an && bn) return Math.sign(Number(a) - Number(b))
  if (an) return -1
  if (bn) return 1
  return a < b ? -1 : a > b ? 1 : 0
}

/** SemVer precedence: negative when `a < b`, zero when equal, positive when `a > b`. */
export const compare = (a: Version, b: Version): number => {
  const pa = parts(a)
  const pb = parts(b)
  for (let i = 0; i < 3; i++) {
    const d = Math.sign(pa.core[i]! - pb.core[i]!)
    if (d !== 0) return d
  }
  if (pa.pre.length === 0 || pb.pre.length === 0) return Math.sign(pb.pre.length - pa.pre.length)
  for (let i = 0; i < Math.min(pa.pre.length, pb.pre.length); i++) {
    const d = compareIdentifiers(pa.pre[i]!, pb.pre[i]!)
    if (d !== 0) return d
  }
  return Math.sign(pa.pre.length - pb.pre.length)
}
