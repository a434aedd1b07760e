/**
 * Reads a channel: `latest.json` and its `.sig`, each bounded in size, verified against the keys
 * this node trusts (signature, schema, expiry), then passed through the gates. The image URL in
 * the metadata is resolved against the metadata's own URL, so a channel can be mirrored whole.
 */
import { Clock, Effect } from "effect"
import { HttpClient, HttpClientRequest } from "effect/http"
import type { ReleaseMetadata } from "@keelos/domain"
import { Body } from "@keelos/oci"
import { Release, type Signing } from "@keelos/release"
import * as Gates from "./Gates.ts"
import * as UpdateError from "./UpdateError.ts"

/** latest.json is a few hundred bytes; anything this large is not a channel document. */
export const maxDocumentBytes = 64 * 1024

/** GETs a small document, refusing bodies over `maxDocumentBytes` without buffering them. */
export const fetchDocument = (url: URL) =>
  Effect.gen(function*() {
    const client = yield* HttpClient.HttpClient
    const response = yield* client.execute(HttpClientRequest.get(url))
    if (response.status !== 200) {
      return yield* UpdateError.make("check", response.status >= 500 ? "Transfer" : "HttpStatus", `${url.href} answered HTTP ${response.status}`)
    }
    return yield* Body.collectBounded(response.stream, maxDocumentBytes, () =>
      UpdateError.make("check", "Refused", `${url.href} is larger than ${maxDocumentBytes} bytes`))
  }).pipe(Effect.catchTag("HttpClientError", (error) => Effect.fail(UpdateError.make("check", "Transfer", `${url.href}: ${error.message}`))))

export interface Resolved {
  readonly metadata: ReleaseMetadata.ReleaseMetadata
  readonly imageUrl: URL
}

export const resolve = Effect.fn("Channel.resolve")(function*(
  metadataUrl: URL,
  signatureUrl: URL,
  trusted: ReadonlyArray<Signing.TrustedKey>,
  node: Gates.NodeView,
  force: boolean
) {
  const [document, signature] = yield* Effect.all([fetchDocument(metadataUrl), fetchDocument(signatureUrl)], { concurrency: 2 })
  const now = yield* Clock.currentTimeMillis
  const verified = yield* Release.verify(document, signature, trusted, now).pipe(
    Effect.mapError((refused) => UpdateError.make("check", "Refused", refused.message))
  )
  const metadata = yield* Effect.fromResult(Gates.check(verified, node, { channel: Gates.channelOf(metadataUrl), force }))
  const imageUrl = yield* Effect.try({
    try: () => new URL(metadata.image.url, metadataUrl),
    catch: () => UpdateError.make("check", "Refused", `the metadata's image URL ${JSON.stringify(metadata.image.url)} is not a URL`)
  })
  return { metadata, imageUrl } satisfies Resolved
})

/** The size of a direct image, from the Content-Length of a HEAD request. */
export const contentLength = (url: URL) =>
  Effect.gen(function*() {
    const client = yield* HttpClient.HttpClient
    const response = yield* client.execute(HttpClientRequest.head(url))
    if (response.status !== 200) return yield* UpdateError.make("check", response.status >= 500 ? "Transfer" : "HttpStatus", `${url.href} answered HTTP ${response.status}`)
    const length = Number(response.headers["content-length"])
    if (!Number.isSafeInteger(length) || length <= 0) return yield* UpdateError.make("check", "BadRequest", `${url.href} does not say how large it is (no Content-Length)`)
    return length
  }).pipe(Effect.catchTag("HttpClientError", (error) => Effect.fail(UpdateError.make("check", "Transfer", `${url.href}: ${error.message}`))))
