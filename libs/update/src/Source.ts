/**
 * What an operator may name as an update source: a channel's `latest.json` (signed metadata
 * decides the image), a release in an OCI registry (`oci://registry/repository:tag`, signed
 * manifest), or a direct image URL that must come with its SHA-256 (the digest is the trust).
 * Anything else is a `BadRequest` that says which forms exist.
 */
import { Effect, Result } from "effect"
import type { Version } from "@keelos/domain"
import { Reference } from "@keelos/oci"
import * as UpdateError from "./UpdateError.ts"

export type Source =
  | { readonly _tag: "Channel"; readonly metadataUrl: URL; readonly signatureUrl: URL }
  | { readonly _tag: "Image"; readonly url: URL; readonly sha256: string; readonly version: Version.Version | null }
  | { readonly _tag: "Registry"; readonly reference: Reference.Reference }

export interface Request {
  readonly source: string
  /** Required for a direct image URL. */
  readonly sha256?: string | undefined
  /** For a direct image URL: the version it holds, if the operator knows it. */
  readonly version?: Version.Version | undefined
}

const bad = (detail: string) => UpdateError.make("check", "BadRequest", detail)

export const parse = (request: Request): Effect.Effect<Source, UpdateError.UpdateError> => {
  if (Reference.isOci(request.source)) {
    return Result.match(Reference.parse(request.source), {
      onFailure: (detail) => Effect.fail(bad(detail)),
      onSuccess: (reference) => Effect.succeed({ _tag: "Registry", reference } as const)
    })
  }
  let url: URL
  try {
    url = new URL(request.source)
  } catch {
    return Effect.fail(bad(`${JSON.stringify(request.source)} is not a URL; give a channel's https://…/latest.json, oci://registry/repository:tag, or an image URL with its --sha256`))
  }
  if (url.protocol !== "http:" && url.protocol !== "https:") return Effect.fail(bad(`unsupported scheme ${url.protocol} (http, https, oci or oci+http)`))
  if (url.pathname.endsWith("/latest.json")) {
    return Effect.succeed({ _tag: "Channel", metadataUrl: url, signatureUrl: new URL(`${url.pathname}.sig${url.search}`, url) })
  }
  const sha256 = request.sha256?.toLowerCase()
  if (sha256 === undefined) return Effect.fail(bad(`a direct image URL needs its SHA-256 (--sha256); or give the channel's latest.json`))
  if (!/^[0-9a-f]{64}$/.test(sha256)) return Effect.fail(bad(`--sha256 must be 64 hex digits`))
  return Effect.succeed({ _tag: "Image", url, sha256, version: request.version ?? null })
}
