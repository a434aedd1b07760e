/**
 * Streams an image from HTTP straight into a slot: the SHA-256 is computed on the way, memory is
 * one write buffer whatever the image size (HttpDownload reads the body into it, so nothing is
 * allocated per chunk and no collection is needed), an interrupted transfer resumes with an HTTP Range
 * request from the last byte written (and after a crash from the last synced byte the caller
 * recorded), and the slot is synced, dropped from the page cache and read back from the device
 * before it counts as written. Bytes that do not hash to the expected digest are never reported
 * as written. (Reading each synced stretch back during the download was measured slower: on one
 * event loop it stalls the transfer instead of overlapping it.)
 */
import { createHash, type Hash } from "node:crypto"
import { Duration, Effect } from "effect"
import { type BlockDevice, HttpDownload } from "@keelos/platform"
import * as UpdateError from "./UpdateError.ts"

export interface Target {
  readonly url: URL
  readonly sha256: string
  readonly sizeBytes: number
  /**
   * The Authorization header to send, when the source needs one (a registry): called with null
   * first, and with the WWW-Authenticate challenge when the server answers 401, once per attempt.
   */
  readonly authorize?: (challenge: string | null) => Effect.Effect<string | null, UpdateError.UpdateError>
}

export interface Options {
  /** Bytes already on the device and synced by an earlier, interrupted run. */
  readonly resumeFrom: number
  /** Called with the bytes written so far, at most once per write buffer. */
  readonly onProgress: (bytes: number) => Effect.Effect<void>
  /** Called after each sync with the bytes now durable, so a crash resumes from there. */
  readonly onSynced: (bytes: number) => Effect.Effect<void, UpdateError.UpdateError>
  readonly bufferBytes?: number
  readonly syncEveryBytes?: number
  /** Transfer attempts in a row that make no progress before the download fails. */
  readonly maxStalledAttempts?: number
  /** First pause between attempts; doubles while attempts make no progress, capped at 30 s. */
  readonly retryBaseMillis?: number
}

const defaultBuffer = 1 << 20
const defaultSyncEvery = 16 << 20

const ioError = (operation: "write" | "verify") => (error: BlockDevice.BlockDeviceError) => UpdateError.make(operation, "Io", error.message)

/** Hashes the first `length` bytes of the device through one buffer. */
export const hashDevice = (
  device: BlockDevice.BlockDevice,
  length: number,
  bufferBytes = defaultBuffer,
  hash: Hash = createHash("sha256")
) =>
  Effect.gen(function*() {
    const buffer = new Uint8Array(Math.min(bufferBytes, length))
    for (let offset = 0; offset < length; offset += bufferBytes) {
      const chunk = offset + bufferBytes <= length ? buffer : buffer.subarray(0, length - offset)
      yield* device.readInto(offset, chunk)
      hash.update(chunk)
    }
    return hash
  })

type Attempt = { readonly _tag: "Done" } | { readonly _tag: "Retry"; readonly cause: string } | { readonly _tag: "Restart"; readonly cause: string }

export const write = Effect.fn("SlotWriter.write")(function*(device: BlockDevice.BlockDevice, target: Target, options: Options) {
  const download = yield* HttpDownload.HttpDownload
  const bufferBytes = options.bufferBytes ?? defaultBuffer
  const syncEvery = options.syncEveryBytes ?? defaultSyncEvery
  const maxStalled = options.maxStalledAttempts ?? 6
  const retryBase = options.retryBaseMillis ?? 500
  if (target.sizeBytes > device.sizeBytes) {
    return yield* UpdateError.make("write", "NoSpace", `the image is ${target.sizeBytes} bytes; slot ${device.label} holds ${device.sizeBytes}`)
  }

  let offset = Math.min(options.resumeFrom, target.sizeBytes)
  let hash = yield* Effect.mapError(hashDevice(device, offset, bufferBytes), ioError("write"))
  let lastSynced = offset
  const buffer = new Uint8Array(bufferBytes)
  const probe = new Uint8Array(1)
  let filled = 0
  let authorization = target.authorize === undefined ? null : yield* target.authorize(null)

  const flush = Effect.gen(function*() {
    if (filled === 0) return
    const chunk = buffer.subarray(0, filled)
    yield* Effect.mapError(device.write(offset, chunk), ioError("write"))
    hash.update(chunk)
    offset += filled
    filled = 0
    yield* options.onProgress(offset)
    if (offset - lastSynced >= syncEvery) {
      yield* Effect.mapError(device.sync, ioError("write"))
      lastSynced = offset
      yield* options.onSynced(offset)
    }
  })

  /** Reads the body into the write buffer, writing it out each time it fills, up to the image's end. */
  const receive = (response: HttpDownload.Response) =>
    Effect.gen(function*() {
      while (offset + filled < target.sizeBytes) {
        const n = yield* response.read(buffer.subarray(filled, Math.min(bufferBytes, target.sizeBytes - offset)))
        if (n === 0) return
        filled += n
        if (filled === bufferBytes) yield* flush
      }
      if ((yield* response.read(probe)) > 0) {
        return yield* UpdateError.make("download", "Integrity", `the server sent more than the ${target.sizeBytes} bytes the release names`)
      }
    })

  /** One request from `offset`; transport failures and 5xx are retried, other statuses are final. */
  const attempt: Effect.Effect<Attempt, UpdateError.UpdateError> = Effect.gen(function*() {
    const request = (authorization: string | null) =>
      download.get(target.url, {
        ...(offset > 0 ? { range: `bytes=${offset}-` } : {}),
        ...(authorization === null ? {} : { authorization })
      })
    let response = yield* request(authorization)
    if (response.status === 401 && target.authorize !== undefined) {
      authorization = yield* target.authorize(response.headers["www-authenticate"] ?? "")
      response = yield* request(authorization)
    }
    if (response.status === 200 && offset > 0) {
      // The server ignores ranges: take the whole image from this response instead.
      offset = 0
      hash = createHash("sha256")
    } else if (response.status === 206) {
      const range = response.headers["content-range"] ?? ""
      const start = /^bytes (\d+)-/.exec(range)?.[1]
      if (start === undefined || Number(start) !== offset) {
        return { _tag: "Restart", cause: `the server answered a range from ${offset} with ${range || "no Content-Range"}` } satisfies Attempt
      }
    } else if (response.status !== 200) {
      return response.status >= 500 || response.status === 429 || response.status === 408
        ? { _tag: "Retry", cause: `HTTP ${response.status}` } satisfies Attempt
        : yield* UpdateError.make("download", "HttpStatus", `${target.url.href} answered HTTP ${response.status}`)
    }
    yield* receive(response)
    return { _tag: "Done" } satisfies Attempt
  }).pipe(
    Effect.scoped,
    Effect.catchTag("HttpDownloadError", (error) => Effect.succeed<Attempt>({ _tag: "Retry", cause: error.message })),
    Effect.catchIf(
      (error): error is UpdateError.UpdateError => error._tag === "UpdateError" && error.reason === "Transfer",
      (error) => Effect.succeed<Attempt>({ _tag: "Retry", cause: error.detail })
    ),
    // Whatever arrived before a break is good data at its offset: keep it, resume after it.
    Effect.tap(() => flush)
  )

  let stalled = 0
  while (true) {
    const before = offset
    const outcome = yield* attempt
    if (outcome._tag === "Done" && offset === target.sizeBytes) break
    const cause = outcome._tag === "Done" ? `the transfer ended at ${offset} of ${target.sizeBytes} bytes` : outcome.cause
    if (outcome._tag === "Restart") {
      offset = 0
      hash = createHash("sha256")
    }
    stalled = offset > before ? 0 : stalled + 1
    if (stalled >= maxStalled) {
      return yield* UpdateError.make("download", "Transfer", `${target.url.href}: ${cause} (${maxStalled} attempts without progress)`)
    }
    yield* Effect.logWarning(`download: ${cause}; resuming at byte ${offset}`)
    yield* Effect.sleep(Duration.millis(Math.min(30_000, retryBase * 2 ** stalled)))
  }

  const digest = hash.digest("hex")
  if (digest !== target.sha256) {
    return yield* UpdateError.make("download", "Integrity", `the image hashes to ${digest}, not the expected ${target.sha256}: a corrupt download or a wrong digest`)
  }
  yield* Effect.mapError(device.sync, ioError("write"))
  yield* options.onSynced(offset)
  yield* Effect.mapError(device.dropCache(0, target.sizeBytes), ioError("verify"))
  const readBack = (yield* Effect.mapError(hashDevice(device, target.sizeBytes, bufferBytes), ioError("verify"))).digest("hex")
  if (readBack !== target.sha256) {
    return yield* UpdateError.make("verify", "Integrity", `slot ${device.label} reads back as ${readBack}, not ${target.sha256}: the device did not keep what was written`)
  }
})
