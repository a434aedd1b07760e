/**
 * One side of `npm run bench -- install`: the update engine's slot writer streaming an image from
 * HTTP into a slot file (hash on the way, periodic syncs, read-back), as the agent runs it. Prints
 * one JSON line: seconds, the digest, and the RSS growth over the process's idle baseline.
 */
import { Effect, Layer } from "effect"
import * as NodeBlockDevices from "@keelos/platform-node/NodeBlockDevices"
import * as NodeHttp from "@keelos/platform-node/NodeHttp"
import * as NodeMemory from "@keelos/platform-node/NodeMemory"
import { BlockDevice } from "@keelos/platform"
import { SlotWriter } from "@keelos/update"

const [url, slotFile, sha256, size] = process.argv.slice(2) as [string, string, string, string]
globalThis.gc?.()
const idle = process.memoryUsage().rss
let peak = idle
const sampler = setInterval(() => (peak = Math.max(peak, process.memoryUsage().rss)), 20)
const started = performance.now()
await Effect.runPromise(Effect.scoped(Effect.gen(function*() {
  const device = yield* (yield* BlockDevice.BlockDevices).open("KEELOS_ROOT_B")
  yield* SlotWriter.write(device, { url: new URL(url), sha256, sizeBytes: Number(size) }, {
    resumeFrom: 0,
    reclaim: NodeMemory.reclaim,
    onProgress: () => Effect.sync(() => void (peak = Math.max(peak, process.memoryUsage().rss))),
    onSynced: () => Effect.void
  })
})).pipe(Effect.provide(Layer.mergeAll(NodeBlockDevices.layerFromPaths({ KEELOS_ROOT_B: slotFile }), NodeHttp.layer))))
const seconds = (performance.now() - started) / 1000
clearInterval(sampler)
console.log(JSON.stringify({ seconds, rssGrowthMb: (peak - idle) / (1 << 20) }))
