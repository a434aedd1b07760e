/**
 * One side of `npm run bench -- delta`: a delta install exactly as the update engine runs it on a
 * node (DeltaInstall: download the patch to the data partition, measure the active slot against
 * the delta's base, rebuild into the inactive slot, sync, read back against the signed hash), with
 * files standing in for the slots. Prints one JSON line: seconds, and the RSS growth over the
 * process's idle baseline.
 *
 *   node delta-child.ts DELTA_URL FORMAT DELTA_SHA DELTA_SIZE ACTIVE_FILE FROM_SHA SLOT_FILE IMAGE_SHA IMAGE_SIZE PATCH_FILE
 */
import * as fs from "node:fs"
import { Effect, Layer } from "effect"
import type { ReleaseMetadata } from "@keelos/domain"
import { BlockDevice } from "@keelos/platform"
import * as NodeBlockDevices from "@keelos/platform-node/NodeBlockDevices"
import * as NodeHttp from "@keelos/platform-node/NodeHttp"
import { NodeServices } from "@keelos/platform-node/NodeMain"
import * as NodeMemory from "@keelos/platform-node/NodeMemory"
import { DeltaInstall } from "@keelos/update"

const [url, format, deltaSha, deltaSize, activeFile, fromSha, slotFile, imageSha, imageSize, patchFile] = process.argv.slice(2) as Array<string>

const ref = {
  format: format as ReleaseMetadata.DeltaFormat,
  from_version: "0.0.1",
  from_sha256: fromSha!,
  from_size: fs.statSync(activeFile!).size,
  url: url!,
  size: Number(deltaSize),
  sha256: deltaSha!
} as unknown as ReleaseMetadata.DeltaRef

globalThis.gc?.()
const idle = process.memoryUsage.rss()
let peak = idle
const sampler = setInterval(() => (peak = Math.max(peak, process.memoryUsage.rss())), 20)
const started = performance.now()
await Effect.runPromise(Effect.scoped(Effect.gen(function*() {
  const devices = yield* BlockDevice.BlockDevices
  const active = yield* devices.open("KEELOS_ROOT_A")
  const target = yield* devices.open("KEELOS_ROOT_B")
  yield* DeltaInstall.install({ ref, url: new URL(url!) }, active, target, { sha256: imageSha!, sizeBytes: Number(imageSize) }, {
    patchFile: patchFile!,
    reclaim: NodeMemory.reclaim,
    parallelBlocks: 4,
    onProgress: () => Effect.sync(() => void (peak = Math.max(peak, process.memoryUsage.rss())))
  })
})).pipe(Effect.provide(Layer.mergeAll(NodeBlockDevices.layerFromPaths({ KEELOS_ROOT_A: activeFile!, KEELOS_ROOT_B: slotFile! }), NodeHttp.layer, NodeServices.layer))))
const seconds = (performance.now() - started) / 1000
clearInterval(sampler)
console.log(JSON.stringify({ seconds, rssGrowthMb: (peak - idle) / (1 << 20) }))
