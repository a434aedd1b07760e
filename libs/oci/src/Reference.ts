/**
 * Where an artifact lives: `oci://registry[:port]/repository[:tag][@sha256:…]`, or
 * `oci+http://…` for a registry that speaks plain HTTP (a development registry on a trusted
 * network; never the default). Parsed with the distribution specification's grammar, so a typo
 * is refused here with the part that is wrong instead of as a 404 later.
 */
import { Result } from "effect"
import * as Digest from "./Digest.ts"

export interface Reference {
  readonly scheme: "https" | "http"
  /** `host[:port]` */
  readonly registry: string
  readonly repository: string
  readonly tag: string | null
  readonly digest: Digest.Digest | null
}

const component = "[a-z0-9]+(?:(?:\\.|_|__|-+)[a-z0-9]+)*"
const repositoryPattern = new RegExp(`^${component}(?:/${component})*$`)
const tagPattern = /^[a-zA-Z0-9_][a-zA-Z0-9._-]{0,127}$/
const registryPattern = /^(?:[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?(?:\.[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?)*|\[[0-9a-fA-F:]+\])(?::\d{1,5})?$/

export const schemes = ["oci://", "oci+http://"] as const

export const isOci = (text: string) => schemes.some((scheme) => text.startsWith(scheme))

export const parse = (text: string): Result.Result<Reference, string> => {
  const scheme = text.startsWith("oci+http://") ? "http" : text.startsWith("oci://") ? "https" : null
  if (scheme === null) return Result.fail(`${JSON.stringify(text)} is not an OCI reference (oci://registry/repository:tag)`)
  const rest = text.slice(scheme === "http" ? "oci+http://".length : "oci://".length)
  const slash = rest.indexOf("/")
  if (slash <= 0) return Result.fail(`${JSON.stringify(text)} names no repository (oci://registry/repository:tag)`)
  const registry = rest.slice(0, slash)
  if (!registryPattern.test(registry)) return Result.fail(`${JSON.stringify(registry)} is not a registry host[:port]`)
  let name = rest.slice(slash + 1)
  let digest: Digest.Digest | null = null
  const at = name.indexOf("@")
  if (at >= 0) {
    const candidate = name.slice(at + 1)
    if (!Digest.isDigest(candidate)) return Result.fail(`${JSON.stringify(candidate)} is not a digest (sha256: and 64 lower-case hex digits)`)
    digest = candidate
    name = name.slice(0, at)
  }
  let tag: string | null = null
  const colon = name.lastIndexOf(":")
  if (colon >= 0) {
    tag = name.slice(colon + 1)
    name = name.slice(0, colon)
    if (!tagPattern.test(tag)) return Result.fail(`${JSON.stringify(tag)} is not a tag (letters, digits, '.', '_', '-'; at most 128)`)
  }
  if (!repositoryPattern.test(name)) return Result.fail(`${JSON.stringify(name)} is not a repository name (lower-case components separated by '/')`)
  if (tag === null && digest === null) tag = "latest"
  return Result.succeed({ scheme, registry, repository: name, tag, digest })
}

export const format = (reference: Reference): string =>
  `${reference.scheme === "http" ? "oci+http" : "oci"}://${reference.registry}/${reference.repository}` +
  `${reference.tag === null ? "" : `:${reference.tag}`}${reference.digest === null ? "" : `@${reference.digest}`}`

/** The registry's base URL, `https://host:port`. */
export const baseUrl = (reference: Pick<Reference, "scheme" | "registry">): string => `${reference.scheme}://${reference.registry}`

/** What to ask the registry for: the digest when there is one (immutable), otherwise the tag. */
export const manifestReference = (reference: Reference): string => reference.digest ?? reference.tag ?? "latest"
