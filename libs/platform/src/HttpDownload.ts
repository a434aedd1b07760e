/**
 * GETs whose body is read into buffers the caller owns, for streaming an OS image into a slot. An
 * HttpClient hands every socket read over as a new buffer; over a gigabyte that is tens of thousands
 * of short-lived buffers whose memory V8 gives back only at collections (measured on the slot
 * writer: 120 full collections, half of a 1 GiB download's time, and RSS growing by the 64 MB V8
 * lets such memory reach). Here the caller's write buffer is filled and nothing else is allocated
 * per read. `fromHttpClient` gives the same contract over any HttpClient (the simulator's).
 */
import { Context, Effect, Layer, Pull, Schema, Stream } from "effect"
import type { Scope } from "effect"
import { HttpClient, HttpClientRequest } from "effect/http"

export const HttpDownloadReason = Schema.Literals(["Connect", "Tls", "Protocol", "Closed", "Timeout"])
export type HttpDownloadReason = typeof HttpDownloadReason.Type

export class HttpDownloadError extends Schema.TaggedError<HttpDownloadError>()("HttpDownloadError", {
  operation: Schema.Literals(["request", "read"]),
  url: Schema.String,
  reason: HttpDownloadReason,
  detail: Schema.String
}) {
  override get message(): string {
    return `${this.operation} ${this.url}: ${this.reason}: ${this.detail}`
  }
}

export interface Response {
  readonly status: number
  /** Header names in lower case; repeated headers joined with ", ". */
  readonly headers: Readonly<Record<string, string>>
  /** Where the body came from, after redirects. */
  readonly url: URL
  /**
   * Fills `into` from the body and returns how many bytes it put there: fewer than `into.length`
   * only at the end of the body. A body cut short fails with `Closed`.
   */
  readonly read: (into: Uint8Array) => Effect.Effect<number, HttpDownloadError>
}

export class HttpDownload extends Context.Service<HttpDownload, {
  /**
   * Sends a GET with these headers and answers with the status and headers once they arrive;
   * redirects are followed, and an `authorization` header goes only to the first URL's origin.
   * The connection is closed with the scope.
   */
  readonly get: (url: URL, headers: Readonly<Record<string, string>>) => Effect.Effect<Response, HttpDownloadError, Scope.Scope>
}>()("@keelos/platform/HttpDownload") {
  /**
   * The contract over the context's HttpClient, copying its chunks: for the simulator's network,
   * which neither redirects nor costs memory per chunk.
   */
  static readonly layerFromHttpClient: Layer.Layer<HttpDownload, never, HttpClient.HttpClient> = Layer.effect(HttpDownload)(
    Effect.map(HttpClient.HttpClient, (client) => HttpDownload.of({ get: (url, headers) => getWith(client, url, headers) }))
  )
}

const getWith = (client: HttpClient.HttpClient, url: URL, headers: Readonly<Record<string, string>>) =>
  Effect.gen(function*() {
    const failed = (operation: "request" | "read", reason: HttpDownloadReason) => (error: { readonly message: string }) =>
      new HttpDownloadError({ operation, url: url.href, reason, detail: error.message })
    const response = yield* Effect.mapError(client.execute(HttpClientRequest.get(url).pipe(HttpClientRequest.setHeaders(headers))), failed("request", "Connect"))
    const pull = yield* Stream.toPull(response.stream)
    let pending: ReadonlyArray<Uint8Array> = []
    let chunk = 0
    let at = 0
    let ended = false
    /** A failure that came after some bytes: those are handed over first, the failure next time. */
    let broken: HttpDownloadError | null = null
    const read = (into: Uint8Array) =>
      Effect.gen(function*() {
        let filled = 0
        while (filled < into.length) {
          if (chunk === pending.length) {
            if (ended) break
            if (broken !== null) {
              if (filled > 0) break
              return yield* broken
            }
            const next = yield* pull.pipe(
              Pull.catchDone(() => Effect.succeed(null)),
              Effect.catch((error) => Effect.sync(() => (broken = failed("read", "Closed")(error))).pipe(Effect.as([])))
            )
            if (next === null) ended = true
            pending = next ?? []
            chunk = 0
            at = 0
            continue
          }
          const current = pending[chunk]!
          const n = Math.min(current.length - at, into.length - filled)
          into.set(current.subarray(at, at + n), filled)
          filled += n
          at += n
          if (at === current.length) {
            chunk++
            at = 0
          }
        }
        return filled
      })
    return { status: response.status, headers: response.headers, url, read } satisfies Response
  })
