/**
 * One side of `npm run bench -- install` and `-- oci`: the update engine's slot writer streaming an
 * image into a slot file (hash on the way, periodic syncs, read-back), as the agent runs it. The
 * source is an HTTP URL with its digest and size, or an OCI reference resolved the way a node
 * resolves it (index, signature by the key in KEEL_BENCH_TRUSTED_KEY, annotations, gates). Prints
 * one JSON line: seconds, and the RSS growth over the process's idle baseline.
 */
import * as fs from "node:fs"
import { Effect, Layer, Result } from "effect"
import type { Version } from "@keelos/domain"
import { Reference } from "@keelos/oci"
import * as NodeBlockDevices from "@keelos/platform-node/NodeBlockDevices"
import * as NodeHttp from "@keelos/platform-node/NodeHttp"
import { BlockDevice } from "@keelos/platform"
import { RegistrySource, SlotWriter } from "@keelos/update"

const [source, slotFile, sha256, size] = process.argv.slice(2) as [string, string, string | undefined, string | undefined]

const target = Reference.isOci(source)
  ? RegistrySource.resolve(
    Result.getOrThrow(Reference.parse(source)),
    RegistrySource.anonymous,
    [JSON.parse(fs.readFileSync(process.env["KEEL_BENCH_TRUSTED_KEY"]!, "utf8"))],
    { version: "0.0.1" as Version.Version, arch: "amd64", rolledBack: [] },
    false
  )
  : Effect.succeed({ url: new URL(source), sha256: sha256!, sizeBytes: Number(size) })

globalThis.gc?.()
const idle = process.memoryUsage.rss()
let peak = idle
const sampler = setInterval(() => (peak = Math.max(peak, process.memoryUsage.rss())), 20)
const started = performance.now()
await Effect.runPromise(Effect.scoped(Effect.gen(function*() {
  const device = yield* (yield* BlockDevice.BlockDevices).open("KEELOS_ROOT_B")
  yield* SlotWriter.write(device, yield* target, {
    resumeFrom: 0,
    onProgress: () => Effect.sync(() => void (peak = Math.max(peak, process.memoryUsage.rss()))),
    onSynced: () => Effect.void
  })
})).pipe(Effect.provide(Layer.mergeAll(NodeBlockDevices.layerFromPaths({ KEELOS_ROOT_B: slotFile }), NodeHttp.layer))))
const seconds = (performance.now() - started) / 1000
clearInterval(sampler)
console.log(JSON.stringify({ seconds, rssGrowthMb: (peak - idle) / (1 << 20) }))
