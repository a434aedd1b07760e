/**
 * Installing through a delta (issue #9): the patch named by the signed metadata is downloaded to
 * the data partition (hashed, bounded by its signed size), the active slot is measured against the
 * image the patch was made from, and the new image is produced into the inactive slot, synced
 * periodically and read back against the signed SHA-256. A BSDIFF40 patch is run by bspatch over
 * the whole image; a content delta (KEELTD01) is rebuilt by the SquashFS writer from the active
 * image's files. Any failure is an `UpdateError` the engine answers by installing the full image
 * instead; nothing here marks a slot verified.
 */
import { createHash } from "node:crypto"
import { Effect, FileSystem, Stream } from "effect"
import { HttpClient, type HttpClientError, HttpClientRequest } from "effect/http"
import type { ReleaseMetadata } from "@keelos/domain"
import { Bspatch, TreeDelta } from "@keelos/delta"
import { SquashfsReader } from "@keelos/squashfs"
import type { BlockDevice } from "@keelos/platform"
import * as SlotWriter from "./SlotWriter.ts"
import * as UpdateError from "./UpdateError.ts"

export interface Candidate {
  readonly ref: ReleaseMetadata.DeltaRef
  /** The patch's URL, resolved against the metadata's (or a registry blob's). */
  readonly url: URL
  /** The client to fetch it with, when the source needs its own (a registry's authorized client). */
  readonly client?: HttpClient.HttpClient.With<HttpClientError.HttpClientError | UpdateError.UpdateError>
}

/** The patch that applies to what this node runs, when the release has one smaller than the image. */
export const choose = (candidates: ReadonlyArray<Candidate>, runningVersion: string, imageSize: number): Candidate | null =>
  candidates.find((c) => c.ref.from_version === runningVersion && c.ref.size < imageSize) ?? null

export interface Options {
  /** Where the patch is kept while it is applied (on the data partition). */
  readonly patchFile: string
  readonly onProgress: (bytes: number) => Effect.Effect<void>
  readonly syncEveryBytes?: number
  readonly reclaim?: Effect.Effect<void>
  /** Blocks a content delta's rebuild compresses at once on the thread pool (1 unless told). */
  readonly parallelBlocks?: number
}

const failed = (operation: UpdateError.UpdateOperation, reason: UpdateError.UpdateReason) => (error: { readonly message: string }) =>
  UpdateError.make(operation, reason, error.message)

/** Downloads the patch into `file`, refusing more bytes than signed and a digest that differs. */
const fetchPatch = (candidate: Candidate, file: string) =>
  Effect.scoped(Effect.gen(function*() {
    const client = candidate.client ?? (yield* HttpClient.HttpClient)
    const fs = yield* FileSystem.FileSystem
    const response = yield* Effect.mapError(client.execute(HttpClientRequest.get(candidate.url)), (error) => error._tag === "UpdateError" ? error : failed("download", "Transfer")(error))
    if (response.status !== 200) return yield* UpdateError.make("download", "HttpStatus", `${candidate.url.href} answered HTTP ${response.status}`)
    const out = yield* Effect.mapError(fs.open(file, { flag: "w" }), failed("write", "Io"))
    const hash = createHash("sha256")
    let size = 0
    yield* Stream.runForEach(Stream.mapError(response.stream, failed("download", "Transfer")), (chunk) => {
      size += chunk.length
      if (size > candidate.ref.size) return Effect.fail(UpdateError.make("download", "Integrity", `the delta is larger than the ${candidate.ref.size} bytes the release names`))
      hash.update(chunk)
      return Effect.mapError(out.writeAll(chunk), failed("write", "Io"))
    })
    const digest = hash.digest("hex")
    if (size !== candidate.ref.size || digest !== candidate.ref.sha256) {
      return yield* UpdateError.make("download", "Integrity", `the delta (${size} bytes) hashes to ${digest}, not the signed ${candidate.ref.sha256}`)
    }
    yield* Effect.mapError(out.sync, failed("write", "Io"))
  }))

/** The patch file as random-access bytes for bspatch. */
const patchSource = (file: FileSystem.File, size: number): Bspatch.Source<UpdateError.UpdateError> => ({
  size,
  read: (offset, length) =>
    Effect.gen(function*() {
      yield* file.seek(BigInt(offset), "start")
      const buffer = new Uint8Array(length)
      let got = 0
      while (got < length) {
        const n = yield* file.read(buffer.subarray(got))
        if (n === 0) break
        got += n
      }
      return buffer.subarray(0, got)
    }).pipe(Effect.mapError(failed("write", "Io")))
})

/** The active slot's image bytes (only the first `size`) as the patch's old image. */
const oldSource = (device: BlockDevice.BlockDevice, size: number): Bspatch.Source<UpdateError.UpdateError> => ({
  size,
  read: (offset, length) => Effect.mapError(device.read(offset, Math.min(length, size - offset)), failed("write", "Io"))
})

/**
 * Writes into the inactive slot, never past the image's size, reporting progress and syncing (and
 * giving memory back) every few MiB.
 */
const slotSink = (target: BlockDevice.BlockDevice, image: { readonly sizeBytes: number }, options: Options) => {
  const reclaim = options.reclaim ?? Effect.void
  const syncEvery = options.syncEveryBytes ?? 16 << 20
  let written = 0
  let synced = 0
  return (offset: number, bytes: Uint8Array) =>
    Effect.gen(function*() {
      if (offset + bytes.length > image.sizeBytes) return yield* UpdateError.make("write", "Integrity", `the delta produces more than the ${image.sizeBytes} bytes of the image`)
      yield* Effect.mapError(target.write(offset, bytes), failed("write", "Io"))
      written += bytes.length
      yield* options.onProgress(Math.min(written, image.sizeBytes))
      if (written - synced >= syncEvery) {
        yield* Effect.mapError(target.sync, failed("write", "Io"))
        synced = written
        yield* reclaim
      }
    })
}

/** Runs bspatch from the patch file and the active slot into `target`, hashing what it writes. */
const produce = (
  candidate: Candidate,
  active: BlockDevice.BlockDevice,
  target: BlockDevice.BlockDevice,
  image: { readonly sha256: string; readonly sizeBytes: number },
  options: Options
) =>
  Effect.scoped(Effect.gen(function*() {
    const fs = yield* FileSystem.FileSystem
    const file = yield* Effect.mapError(fs.open(options.patchFile, { flag: "r" }), failed("write", "Io"))
    const hash = createHash("sha256")
    const write = slotSink(target, image, options)
    let offset = 0
    const sink = (chunk: Uint8Array) =>
      Effect.tap(write(offset, chunk), () =>
        Effect.sync(() => {
          hash.update(chunk)
          offset += chunk.length
        }))
    const produced = yield* Bspatch.apply(patchSource(file, candidate.ref.size), oldSource(active, candidate.ref.from_size), sink).pipe(
      Effect.mapError((error) => error._tag === "BspatchError" ? UpdateError.make("write", "Integrity", error.message) : error)
    )
    const digest = hash.digest("hex")
    if (produced !== image.sizeBytes || digest !== image.sha256) {
      return yield* UpdateError.make("verify", "Integrity", `the delta produced ${produced} bytes hashing to ${digest}, not the signed image ${image.sha256}`)
    }
    yield* Effect.mapError(target.sync, failed("write", "Io"))
    yield* Effect.mapError(target.dropCache(0, image.sizeBytes), failed("verify", "Io"))
  }))

/** Rebuilds a content delta's image into `target` from the active slot's files. */
const produceTree = (
  candidate: Candidate,
  active: BlockDevice.BlockDevice,
  target: BlockDevice.BlockDevice,
  image: { readonly sha256: string; readonly sizeBytes: number },
  options: Options
) =>
  Effect.scoped(Effect.gen(function*() {
    const fs = yield* FileSystem.FileSystem
    const file = yield* Effect.mapError(fs.open(options.patchFile, { flag: "r" }), failed("write", "Io"))
    const old = yield* SquashfsReader.open(oldSource(active, candidate.ref.from_size))
    const sink = { write: slotSink(target, image, options) }
    const rebuilt = yield* TreeDelta.apply(patchSource(file, candidate.ref.size), old, sink, options.parallelBlocks === undefined ? {} : { parallelBlocks: options.parallelBlocks })
    if (rebuilt.size !== image.sizeBytes) {
      return yield* UpdateError.make("verify", "Integrity", `the delta rebuilt ${rebuilt.size} bytes, not the signed image's ${image.sizeBytes}`)
    }
    yield* Effect.mapError(target.sync, failed("write", "Io"))
    yield* Effect.mapError(target.dropCache(0, image.sizeBytes), failed("verify", "Io"))
  })).pipe(Effect.mapError((error) => {
    switch (error._tag) {
      case "UpdateError":
        return error
      case "TreeDeltaError": {
        // A delta for another writer or another image is refused; a broken one is an integrity failure.
        const refused = error.reason === "Incompatible" || error.reason === "BaseMismatch"
        return UpdateError.make(refused ? "check" : "write", refused ? "Refused" : "Integrity", error.message)
      }
      default:
        return UpdateError.make("write", "Integrity", error.message)
    }
  }))

/**
 * Produces the release's image in `target` from the active slot through the patch; fails (for the
 * engine to fall back) when the base, the patch or the result is not what the signed metadata says.
 */
export const install = Effect.fn("DeltaInstall.install")(function*(
  candidate: Candidate,
  active: BlockDevice.BlockDevice,
  target: BlockDevice.BlockDevice,
  image: { readonly sha256: string; readonly sizeBytes: number },
  options: Options
) {
  const reclaim = options.reclaim ?? Effect.void
  const from = candidate.ref
  if (from.from_size > active.sizeBytes) return yield* UpdateError.make("check", "Refused", `the delta's base (${from.from_size} bytes) is larger than slot ${active.label}`)
  const base = (yield* Effect.mapError(SlotWriter.hashDevice(active, from.from_size), failed("check", "Io"))).digest("hex")
  if (base !== from.from_sha256) {
    return yield* UpdateError.make("check", "Refused", `slot ${active.label} does not hold the image the delta was made from (it hashes to ${base}, the delta needs ${from.from_sha256})`)
  }
  if (image.sizeBytes > target.sizeBytes) return yield* UpdateError.make("write", "NoSpace", `the image is ${image.sizeBytes} bytes; slot ${target.label} holds ${target.sizeBytes}`)
  const fs = yield* FileSystem.FileSystem
  // The patch lives on the data partition only while it is applied, whatever the outcome.
  yield* Effect.ensuring(
    Effect.andThen(
      fetchPatch(candidate, options.patchFile),
      candidate.ref.format === "tree" ? produceTree(candidate, active, target, image, options) : produce(candidate, active, target, image, options)
    ),
    Effect.ignore(fs.remove(options.patchFile))
  )
  const readBack = (yield* Effect.mapError(SlotWriter.hashDevice(target, image.sizeBytes), failed("verify", "Io"))).digest("hex")
  if (readBack !== image.sha256) {
    return yield* UpdateError.make("verify", "Integrity", `slot ${target.label} reads back as ${readBack}, not ${image.sha256}: the device did not keep what was written`)
  }
})
