/**
 * A session with one registry (OCI distribution specification 1.1): authentication on demand
 * (anonymous, Basic, and the Bearer token flow with the union of the challenged and the needed
 * scopes, cached per scope), manifests and indexes by tag or digest with the Accept headers that
 * make registries serve indexes, small blobs read whole and verified, a client for streaming large
 * blobs (authorized, redirects followed, so a caller can resume with Range), pushes (monolithic
 * and chunked blob uploads, manifests) and referrers with the `sha256-<hex>` tag fallback.
 *
 * Everything fetched is hashed here: registries serve corrupted content with 200.
 */
import { Effect, Result, Schema, Stream } from "effect"
import * as Base64 from "effect/encoding/Base64"
import { HttpClient, type HttpClientError, HttpClientRequest, type HttpClientResponse } from "effect/http"
import * as Body from "./Body.ts"
import * as Challenge from "./Challenge.ts"
import * as Digest from "./Digest.ts"
import * as Manifest from "./Manifest.ts"
import * as MediaType from "./MediaType.ts"
import * as RegistryError from "./RegistryError.ts"

export interface Credentials {
  readonly username: string
  readonly password: string
}

export interface Options {
  /** The HTTP client (its TLS settings decide which CAs are trusted). */
  readonly client: HttpClient.HttpClient
  readonly scheme: "https" | "http"
  /** `host[:port]` */
  readonly registry: string
  readonly credentials?: Credentials | null
  /** Manifests and indexes larger than this are refused (the specification's 4 MiB by default). */
  readonly maxManifestBytes?: number
  /** Blobs larger than this are uploaded in PATCH chunks of this size (16 MiB by default). */
  readonly chunkBytes?: number
}

export interface FetchedManifest {
  readonly mediaType: string
  readonly digest: Digest.Digest
  readonly bytes: Uint8Array
}

/** A blob to upload: its digest and size are known up front; bytes are read a chunk at a time. */
export interface BlobSource<E = never> {
  readonly digest: Digest.Digest
  readonly size: number
  readonly read: (offset: number, length: number) => Effect.Effect<Uint8Array, E>
}

export const manifestAccept = [MediaType.imageIndex, MediaType.imageManifest, MediaType.dockerManifestList, MediaType.dockerManifest]

export const pullScope = (repository: string) => `repository:${repository}:pull`
export const pushScope = (repository: string) => `repository:${repository}:pull,push`

const TokenResponse = Schema.Struct({ token: Schema.optionalKey(Schema.String), access_token: Schema.optionalKey(Schema.String) })
const decodeToken = Schema.decodeUnknownResult(Schema.fromJsonString(TokenResponse))
const TagList = Schema.Struct({ name: Schema.String, tags: Schema.NullOr(Schema.Array(Schema.String)) })
const decodeTags = Schema.decodeUnknownResult(Schema.fromJsonString(TagList))

const redirects = new Set([301, 302, 303, 307, 308])
const maxRedirects = 5

const transportError = (operation: string) => (error: HttpClientError.HttpClientError) =>
  RegistryError.make(operation, "Unreachable", `cannot reach ${new URL(error.request.url).host}: ${error.message}`)

/** The body, refused once it grows past `max` bytes (never buffered beyond that). */
const readBounded = (operation: string, response: HttpClientResponse.HttpClientResponse, max: number) =>
  Body.collectBounded(Stream.mapError(response.stream, transportError(operation)), max, () =>
    RegistryError.make(operation, "TooLarge", `the registry sent more than ${max} bytes`))

/** Drops a body the caller does not want, so the connection can be reused. */
const discard = (response: HttpClientResponse.HttpClientResponse) => Effect.ignore(Stream.runDrain(response.stream))

/** The OCI error body's first message, for a status that is not the content. */
const errorDetail = (response: HttpClientResponse.HttpClientResponse) =>
  readBounded("read error", response, 16 * 1024).pipe(
    Effect.map((bytes) => {
      const text = new TextDecoder().decode(bytes)
      try {
        const first = (JSON.parse(text) as { errors?: Array<{ code?: string; message?: string }> }).errors?.[0]
        if (first !== undefined) return `${first.code ?? "ERROR"}: ${first.message ?? ""}`.trim()
      } catch {
        // Not an OCI error document (distribution answers unknown routes with plain text).
      }
      return text.trim().slice(0, 200)
    }),
    Effect.orElseSucceed(() => "")
  )

const statusError = (operation: string, what: string, response: HttpClientResponse.HttpClientResponse) =>
  Effect.flatMap(errorDetail(response), (detail) =>
    Effect.fail(RegistryError.make(operation, RegistryError.reasonOfStatus(response.status), `${what}: HTTP ${response.status}${detail === "" ? "" : ` (${detail})`}`)))

const contentType = (response: HttpClientResponse.HttpClientResponse) => (response.headers["content-type"] ?? "").split(";")[0]!.trim()

export interface Registry {
  readonly base: string
  readonly registry: string
  /** `GET /v2/`: reachable, speaks the API, and the credentials (if any) are accepted. */
  readonly ping: Effect.Effect<void, RegistryError.RegistryError>
  readonly getManifest: (repository: string, reference: string, accept?: ReadonlyArray<string>) => Effect.Effect<FetchedManifest, RegistryError.RegistryError>
  /** The manifest's descriptor without its body, or null when there is none. */
  readonly headManifest: (repository: string, reference: string, accept?: ReadonlyArray<string>) => Effect.Effect<Manifest.Descriptor | null, RegistryError.RegistryError>
  readonly putManifest: (repository: string, reference: string, bytes: Uint8Array, mediaType: string) => Effect.Effect<{ readonly digest: Digest.Digest; readonly subject: string | null }, RegistryError.RegistryError>
  /** A small blob, read whole (at most `maxBytes`) and verified against its digest. */
  readonly getBlob: (repository: string, digest: Digest.Digest, maxBytes: number) => Effect.Effect<Uint8Array, RegistryError.RegistryError>
  readonly hasBlob: (repository: string, digest: Digest.Digest) => Effect.Effect<boolean, RegistryError.RegistryError>
  readonly blobUrl: (repository: string, digest: Digest.Digest) => URL
  /** A client that authorizes requests to `repository` for `scope` and follows redirects; for streaming blobs. */
  readonly authorizedClient: (scope: string) => HttpClient.HttpClient.With<HttpClientError.HttpClientError | RegistryError.RegistryError>
  /**
   * The Authorization header for `scope`, for a transfer made without this client (an image
   * streamed into a slot): with `challenge` null the one that worked last (null when none has yet);
   * with the WWW-Authenticate of a 401, a new one.
   */
  readonly authorization: (scope: string, challenge: string | null) => Effect.Effect<string | null, RegistryError.RegistryError>
  /** Uploads a blob unless the registry has it; returns whether bytes were sent. */
  readonly pushBlob: <E>(repository: string, blob: BlobSource<E>) => Effect.Effect<boolean, RegistryError.RegistryError | E>
  readonly listTags: (repository: string) => Effect.Effect<ReadonlyArray<string>, RegistryError.RegistryError>
  /** Manifests whose `subject` is `digest` (referrers API, or the `sha256-<hex>` tag index where it is missing). */
  readonly referrers: (repository: string, digest: Digest.Digest, artifactType?: string) => Effect.Effect<ReadonlyArray<Manifest.Descriptor>, RegistryError.RegistryError>
  /** Pushes a manifest that names a `subject` and makes it findable by `referrers` on any registry. */
  readonly attachReferrer: (repository: string, subject: Digest.Digest, bytes: Uint8Array, artifactType: string, annotations?: Record<string, string>) => Effect.Effect<Digest.Digest, RegistryError.RegistryError>
}

export const make = (options: Options): Registry => {
  const base = `${options.scheme}://${options.registry}`
  const maxManifestBytes = options.maxManifestBytes ?? 4 * 1024 * 1024
  const chunkBytes = options.chunkBytes ?? 16 * 1024 * 1024
  const credentials = options.credentials ?? null
  const basic = credentials === null ? null : `Basic ${Base64.encode(`${credentials.username}:${credentials.password}`)}`
  /** The Authorization header that worked last, per scope. */
  const authorizations = new Map<string, string>()

  const url = (path: string) => new URL(`${base}/v2/${path}`)

  const authorize = (operation: string, challenge: Challenge.Challenge | null, scope: string) =>
    Effect.gen(function*() {
      if (challenge?.scheme === "basic") {
        if (basic === null) return yield* RegistryError.make(operation, "Unauthorized", `${options.registry} needs credentials (Basic auth); configure a username and password for it`)
        return basic
      }
      if (challenge?.scheme !== "bearer" || challenge.params["realm"] === undefined) {
        return yield* RegistryError.make(operation, "Protocol", `${options.registry} answered 401 without a Basic or Bearer challenge`)
      }
      const realm = yield* Effect.try({
        try: () => new URL(challenge.params["realm"]!),
        catch: () => RegistryError.make(operation, "Protocol", `the token realm ${JSON.stringify(challenge.params["realm"])} is not a URL`)
      })
      // Ask for everything at once: the challenged scopes and the one this session needs, so a
      // token for pull does not later lack push (and the reverse).
      const scopes = new Set([...(challenge.params["scope"] ?? "").split(" "), scope].filter((s) => s !== ""))
      const service = challenge.params["service"]
      if (service !== undefined) realm.searchParams.set("service", service)
      for (const s of scopes) realm.searchParams.append("scope", s)
      const request = basic === null ? HttpClientRequest.get(realm) : HttpClientRequest.get(realm).pipe(HttpClientRequest.setHeader("authorization", basic))
      const response = yield* Effect.mapError(options.client.execute(request), transportError(operation))
      if (response.status === 401 || response.status === 403) {
        yield* discard(response)
        return yield* RegistryError.make(operation, "Unauthorized", `the token server ${realm.origin} refused ${credentials === null ? "anonymous access" : `the credentials of ${credentials.username}`}`)
      }
      if (response.status !== 200) return yield* statusError(operation, `token server ${realm.origin}`, response)
      const body = yield* readBounded(operation, response, 64 * 1024)
      const token = Result.getOrUndefined(decodeToken(new TextDecoder().decode(body)))
      const value = token?.token ?? token?.access_token
      if (value === undefined || value === "") return yield* RegistryError.make(operation, "Protocol", `the token server ${realm.origin} answered without a token`)
      return `Bearer ${value}`
    })

  const withAuthorization = (request: HttpClientRequest.HttpClientRequest, header: string | undefined) =>
    header === undefined ? request : HttpClientRequest.setHeader(request, "authorization", header)

  /** Follows redirects; the Authorization header goes only to the registry's own origin. */
  const follow = (operation: string, request: HttpClientRequest.HttpClientRequest, response: HttpClientResponse.HttpClientResponse, header: string | undefined) =>
    Effect.gen(function*() {
      let current = response
      let currentUrl = new URL(request.url)
      for (let hops = 0; redirects.has(current.status) && (request.method === "GET" || request.method === "HEAD"); hops++) {
        const location = current.headers["location"]
        if (location === undefined || hops >= maxRedirects) return current
        yield* discard(current)
        currentUrl = new URL(location, currentUrl)
        const next = HttpClientRequest.setUrl(HttpClientRequest.removeHeader(request, "authorization"), currentUrl)
        current = yield* Effect.mapError(
          options.client.execute(currentUrl.origin === new URL(base).origin ? withAuthorization(next, header) : next),
          transportError(operation)
        )
      }
      return current
    })

  /** Sends a request authorized for `scope`, authenticating once on a 401 and retrying. */
  const send = (operation: string, request: HttpClientRequest.HttpClientRequest, scope: string) =>
    Effect.gen(function*() {
      const cached = authorizations.get(scope)
      const first = yield* Effect.mapError(options.client.execute(withAuthorization(request, cached)), transportError(operation))
      if (first.status !== 401) return yield* follow(operation, request, first, cached)
      yield* discard(first)
      const header = yield* authorize(operation, Challenge.parse(first.headers["www-authenticate"] ?? ""), scope)
      const second = yield* Effect.mapError(options.client.execute(withAuthorization(request, header)), transportError(operation))
      if (second.status === 401) {
        yield* discard(second)
        return yield* RegistryError.make(operation, "Unauthorized", `${options.registry} refused ${credentials === null ? "anonymous access" : `the credentials of ${credentials.username}`} for ${scope || "the API"}`)
      }
      authorizations.set(scope, header)
      return yield* follow(operation, request, second, header)
    })

  const ping = Effect.gen(function*() {
    const response = yield* send("ping", HttpClientRequest.get(url("")), "")
    if (response.status !== 200) return yield* statusError("ping", `${base}/v2/`, response)
    yield* discard(response)
  })

  const acceptHeader = (accept: ReadonlyArray<string>) => HttpClientRequest.setHeader("accept", accept.join(", "))

  const checkDigest = (operation: string, what: string, expected: string, bytes: Uint8Array) => {
    const actual = Digest.ofBytes(bytes)
    return actual === expected
      ? Effect.succeed(actual)
      : Effect.fail(RegistryError.make(operation, "Integrity", `${what} hashes to ${actual}, not ${expected}: the registry served corrupted content`))
  }

  const getManifest = (repository: string, reference: string, accept: ReadonlyArray<string> = manifestAccept) =>
    Effect.gen(function*() {
      const operation = "get manifest"
      const what = `${repository}:${reference}`
      const response = yield* send(operation, HttpClientRequest.get(url(`${repository}/manifests/${reference}`)).pipe(acceptHeader(accept)), pullScope(repository))
      if (response.status !== 200) return yield* statusError(operation, what, response)
      const bytes = yield* readBounded(operation, response, maxManifestBytes)
      // By digest, the digest is the truth; by tag, the registry's own header is what it claims.
      const claimed = Digest.isDigest(reference) ? reference : response.headers["docker-content-digest"]
      const digest = claimed === undefined ? Digest.ofBytes(bytes) : yield* checkDigest(operation, `the manifest ${what}`, claimed, bytes)
      const mediaType = contentType(response)
      if (!accept.includes(mediaType)) {
        return yield* RegistryError.make(operation, "Protocol", `${what} is a ${mediaType || "document without a media type"}; expected one of ${accept.join(", ")}`)
      }
      return { mediaType, digest, bytes } satisfies FetchedManifest
    })

  const headManifest = (repository: string, reference: string, accept: ReadonlyArray<string> = manifestAccept) =>
    Effect.gen(function*() {
      const operation = "head manifest"
      const response = yield* send(operation, HttpClientRequest.head(url(`${repository}/manifests/${reference}`)).pipe(acceptHeader(accept)), pullScope(repository))
      if (response.status === 404) return null
      if (response.status !== 200) return yield* statusError(operation, `${repository}:${reference}`, response)
      const digest = response.headers["docker-content-digest"]
      const size = Number(response.headers["content-length"])
      if (digest === undefined || !Digest.isDigest(digest) || !Number.isSafeInteger(size)) {
        return yield* RegistryError.make(operation, "Protocol", `${repository}:${reference}: HEAD answered without a digest or length`)
      }
      return { mediaType: contentType(response), digest, size } satisfies Manifest.Descriptor
    })

  const putManifest = (repository: string, reference: string, bytes: Uint8Array, mediaType: string) =>
    Effect.gen(function*() {
      const operation = "push manifest"
      const request = HttpClientRequest.put(url(`${repository}/manifests/${reference}`)).pipe(HttpClientRequest.bodyUint8Array(bytes, mediaType))
      const response = yield* send(operation, request, pushScope(repository))
      if (response.status !== 201) return yield* statusError(operation, `${repository}:${reference}`, response)
      yield* discard(response)
      return { digest: Digest.ofBytes(bytes), subject: response.headers["oci-subject"] ?? null }
    })

  const blobUrl = (repository: string, digest: Digest.Digest) => url(`${repository}/blobs/${digest}`)

  const getBlob = (repository: string, digest: Digest.Digest, maxBytes: number) =>
    Effect.gen(function*() {
      const operation = "get blob"
      const response = yield* send(operation, HttpClientRequest.get(blobUrl(repository, digest)), pullScope(repository))
      if (response.status !== 200) return yield* statusError(operation, `${repository}@${digest}`, response)
      const bytes = yield* readBounded(operation, response, maxBytes)
      yield* checkDigest(operation, `the blob ${repository}@${digest}`, digest, bytes)
      return bytes
    })

  const hasBlob = (repository: string, digest: Digest.Digest) =>
    Effect.gen(function*() {
      const response = yield* send("head blob", HttpClientRequest.head(blobUrl(repository, digest)), pullScope(repository))
      if (response.status === 200) return true
      if (response.status === 404) return false
      return yield* statusError("head blob", `${repository}@${digest}`, response)
    })

  const authorizedClient = (scope: string) =>
    HttpClient.transform(options.client, (_unauthorized, request) => send(`${request.method} ${new URL(request.url).pathname}`, request, scope))

  const authorization = (scope: string, challenge: string | null) =>
    challenge === null
      ? Effect.succeed(authorizations.get(scope) ?? null)
      : Effect.tap(authorize("get blob", Challenge.parse(challenge), scope), (header) => Effect.sync(() => authorizations.set(scope, header)))

  /** Where the upload session continues: the Location of the last answer, relative to the registry. */
  const uploadLocation = (operation: string, response: HttpClientResponse.HttpClientResponse) => {
    const location = response.headers["location"]
    return location === undefined
      ? Effect.fail(RegistryError.make(operation, "Protocol", "the registry answered an upload step without a Location"))
      : Effect.succeed(new URL(location, base))
  }

  const pushBlob = <E>(repository: string, blob: BlobSource<E>) =>
    Effect.gen(function*() {
      const operation = "push blob"
      const scope = pushScope(repository)
      if (yield* hasBlob(repository, blob.digest)) return false
      const started = yield* send(operation, HttpClientRequest.post(url(`${repository}/blobs/uploads/`)), scope)
      if (started.status !== 202) return yield* statusError(operation, `start upload to ${repository}`, started)
      yield* discard(started)
      let location = yield* uploadLocation(operation, started)
      let body: Uint8Array = new Uint8Array(0)
      if (blob.size <= chunkBytes) {
        body = yield* blob.read(0, blob.size)
      } else {
        for (let offset = 0; offset < blob.size; offset += chunkBytes) {
          const chunk = yield* blob.read(offset, Math.min(chunkBytes, blob.size - offset))
          const request = HttpClientRequest.patch(location).pipe(
            HttpClientRequest.setHeader("content-range", `${offset}-${offset + chunk.length - 1}`),
            HttpClientRequest.bodyUint8Array(chunk, "application/octet-stream")
          )
          const response = yield* send(operation, request, scope)
          if (response.status !== 202) return yield* statusError(operation, `upload chunk at ${offset} to ${repository}`, response)
          yield* discard(response)
          location = yield* uploadLocation(operation, response)
        }
      }
      location.searchParams.set("digest", blob.digest)
      const finished = yield* send(operation, HttpClientRequest.put(location).pipe(HttpClientRequest.bodyUint8Array(body, "application/octet-stream")), scope)
      if (finished.status !== 201) return yield* statusError(operation, `finish upload of ${blob.digest} to ${repository}`, finished)
      yield* discard(finished)
      const stored = finished.headers["docker-content-digest"]
      if (stored !== undefined && stored !== blob.digest) {
        return yield* RegistryError.make(operation, "Integrity", `the registry stored ${stored} for the upload of ${blob.digest}`)
      }
      return true
    })

  const listTags = (repository: string) =>
    Effect.gen(function*() {
      const operation = "list tags"
      const response = yield* send(operation, HttpClientRequest.get(url(`${repository}/tags/list`)), pullScope(repository))
      if (response.status !== 200) return yield* statusError(operation, repository, response)
      const decoded = decodeTags(new TextDecoder().decode(yield* readBounded(operation, response, maxManifestBytes)))
      if (Result.isFailure(decoded)) return yield* RegistryError.make(operation, "Protocol", `${repository}: the tag list is not a tag list`)
      return decoded.success.tags ?? []
    })

  /** The tag the OCI 1.1 fallback keeps the referrers index of `digest` under. */
  const fallbackTag = (digest: Digest.Digest) => `sha256-${Digest.hexOf(digest)}`

  const readIndex = (operation: string, fetched: FetchedManifest) =>
    Result.match(Manifest.parseIndex(fetched.bytes), {
      onFailure: (issue) => Effect.fail(RegistryError.make(operation, "Protocol", `the referrers index is not an image index: ${issue}`)),
      onSuccess: (index) => Effect.succeed(index)
    })

  const fallbackReferrers = (repository: string, digest: Digest.Digest) =>
    getManifest(repository, fallbackTag(digest), [MediaType.imageIndex]).pipe(
      Effect.flatMap((fetched) => readIndex("referrers", fetched)),
      Effect.map((index) => index.manifests),
      Effect.catchIf((error) => error.reason === "NotFound", () => Effect.succeed([] as ReadonlyArray<Manifest.Descriptor>))
    )

  const referrers = (repository: string, digest: Digest.Digest, artifactType?: string) =>
    Effect.gen(function*() {
      const operation = "referrers"
      const request = HttpClientRequest.get(url(`${repository}/referrers/${digest}`)).pipe(acceptHeader([MediaType.imageIndex]))
      const response = yield* send(operation, artifactType === undefined ? request : HttpClientRequest.setUrlParam(request, "artifactType", artifactType), pullScope(repository))
      let found: ReadonlyArray<Manifest.Descriptor>
      if (response.status === 200 && contentType(response) === MediaType.imageIndex) {
        const bytes = yield* readBounded(operation, response, maxManifestBytes)
        found = (yield* readIndex(operation, { mediaType: MediaType.imageIndex, digest: Digest.ofBytes(bytes), bytes })).manifests
      } else if (response.status === 404) {
        yield* discard(response)
        found = yield* fallbackReferrers(repository, digest)
      } else {
        return yield* statusError(operation, `${repository}@${digest}`, response)
      }
      return artifactType === undefined ? found : found.filter((descriptor) => descriptor.artifactType === artifactType)
    })

  const attachReferrer = (repository: string, subject: Digest.Digest, bytes: Uint8Array, artifactType: string, annotations?: Record<string, string>) =>
    Effect.gen(function*() {
      const pushed = yield* putManifest(repository, Digest.ofBytes(bytes), bytes, MediaType.imageManifest)
      // A registry with the referrers API says so with OCI-Subject; the others need the tag index.
      if (pushed.subject === subject) return pushed.digest
      const existing = yield* fallbackReferrers(repository, subject)
      if (existing.some((descriptor) => descriptor.digest === pushed.digest)) return pushed.digest
      const descriptor = Manifest.describe(MediaType.imageManifest, bytes, { artifactType, ...(annotations === undefined ? {} : { annotations }) })
      const index: Manifest.ImageIndex = { schemaVersion: 2, mediaType: MediaType.imageIndex, manifests: [...existing, descriptor] }
      yield* putManifest(repository, fallbackTag(subject), Manifest.encode(index), MediaType.imageIndex)
      return pushed.digest
    })

  return {
    base,
    registry: options.registry,
    ping,
    getManifest,
    headManifest,
    putManifest,
    getBlob,
    hasBlob,
    blobUrl,
    authorizedClient,
    authorization,
    pushBlob,
    listTags,
    referrers,
    attachReferrer
  }
}
