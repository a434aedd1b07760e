/** Simulated machines and image servers for the update engine's tests. */
import { createHash, generateKeyPairSync } from "node:crypto"
import { Effect, Layer, Schema, Stream } from "effect"
import { BootControl } from "@keelos/boot"
import { ReleaseMetadata, type Version } from "@keelos/domain"
import { SimHardware, SimNetwork } from "@keelos/platform-sim"
import { Release, Signing } from "@keelos/release"
import type { HttpClient } from "effect/http"
import { type HealthGate, type Hooks, type InstallRequest, type RegistrySource, UpdateEngine, type UpdateError } from "../src/index.ts"

export const sha256 = (bytes: Uint8Array) => createHash("sha256").update(bytes).digest("hex")

/** Deterministic image bytes (xorshift32), distinct per seed. */
export const image = (seed: number, size: number): Uint8Array => {
  const out = new Uint8Array(size)
  let x = seed >>> 0 || 1
  for (let i = 0; i < size; i++) {
    x ^= x << 13
    x ^= x >>> 17
    x ^= x << 5
    out[i] = x & 0xff
  }
  return out
}

export interface ServedFile {
  readonly path: string
  readonly body: Uint8Array
}

export interface ServerOptions {
  /** Answer Range requests with 206 (default) or ignore them with 200. */
  readonly ranges?: boolean
  /** Status for every request instead of the file. */
  readonly status?: number
}

/** An HTTP server on the simulated network with Range support, counting requests. */
export const serve = (hardware: SimHardware, host: string, files: ReadonlyArray<ServedFile>, options: ServerOptions = {}) => {
  const log: Array<string> = []
  hardware.network.serve(host, (request) =>
    Effect.sync(() => {
      const range = SimNetwork.header(request, "range")
      log.push(`${request.url.pathname}${range === undefined ? "" : ` ${range}`}`)
      if (options.status !== undefined) return { status: options.status }
      const file = files.find((f) => f.path === request.url.pathname)
      if (file === undefined) return { status: 404 }
      const start = range === undefined || options.ranges === false ? undefined : Number(/^bytes=(\d+)-$/.exec(range)?.[1])
      if (start === undefined) return { status: 200, body: file.body }
      return {
        status: 206,
        headers: { "content-range": `bytes ${start}-${file.body.length - 1}/${file.body.length}` },
        body: file.body.subarray(start)
      }
    }))
  return log
}

export const machine = (seed = 1, slotBytes = 256 * 1024) => {
  const hardware = new SimHardware({ seed, slotBytes, dataBytes: 4 * 1024 * 1024 })
  hardware.powerOn()
  return hardware
}


export const releaseKey = (() => {
  const { privateKey, publicKey } = generateKeyPairSync("ed25519")
  const pub = publicKey.export({ type: "spki", format: "pem" }).toString()
  return { privateKey: privateKey.export({ type: "pkcs8", format: "pem" }).toString(), trusted: { id: Signing.keyId(pub), development: true, publicKey: pub } }
})()

/** Noon, 30 Nov 2026: the simulated clock starts here. */
export const epoch = Date.UTC(2026, 10, 30, 12)

export interface ReleaseSpec {
  readonly version: string
  readonly body: Uint8Array
  readonly channel?: string
  readonly arch?: "amd64" | "arm64"
  readonly minCompatible?: string
  readonly expires?: string
  readonly sha256?: string
  readonly deltas?: ReadonlyArray<{ readonly format?: "bsdiff" | "tree"; readonly from_version: string; readonly from_sha256: string; readonly from_size: number; readonly url: string; readonly size: number; readonly sha256: string }>
}

/** latest.json, its signature and the image, as files under /stable/amd64 (or the spec's channel/arch). */
export const channelFiles = (spec: ReleaseSpec, signWith = releaseKey.privateKey): ReadonlyArray<ServedFile> => {
  const dir = `/${spec.channel ?? "stable"}/${spec.arch ?? "amd64"}`
  const metadata = Schema.decodeUnknownSync(ReleaseMetadata.ReleaseMetadata)({
    schema: 1, version: spec.version, channel: spec.channel ?? "stable", arch: spec.arch ?? "amd64",
    min_compatible_version: spec.minCompatible ?? "0.1.0", release_date: "2026-11-30T00:00:00Z",
    expires: spec.expires ?? "2026-12-30T00:00:00Z", release_notes: "",
    image: { url: `os-${spec.version}.img`, size: spec.body.length, sha256: spec.sha256 ?? sha256(spec.body) },
    deltas: spec.deltas ?? [], signing_key: { id: releaseKey.trusted.id, development: true }
  })
  const document = Release.encode(metadata)
  return [
    { path: `${dir}/latest.json`, body: document },
    { path: `${dir}/latest.json.sig`, body: Signing.sign(document, signWith) },
    { path: `${dir}/os-${spec.version}.img`, body: spec.body }
  ]
}

export const channelUrl = "http://updates.test/stable/amd64/latest.json"

/** A node's engine over the simulated hardware, with the checks and reboots a test controls. */
export const engineOn = (
  hardware: SimHardware,
  options: {
    readonly version: string
    readonly healthy?: () => boolean
    readonly health?: HealthGate.Options
    readonly hooks?: Hooks.Runner
    readonly registries?: RegistrySource.Access
    /** A real HTTP client instead of the simulated network (for tests against a real registry). */
    readonly http?: Layer.Layer<HttpClient.HttpClient>
  } = { version: "0.1.0" }
) => {
  const reboots: Array<string> = []
  const check: HealthGate.Check = {
    name: "node",
    required: true,
    timeoutMillis: 1_000,
    run: Effect.suspend(() => (options.healthy?.() ?? true) ? Effect.void : Effect.fail("the node is unwell"))
  }
  const layer = UpdateEngine.layer({
    paths: { state: "/var/lib/keel/update/state.json", history: "/var/lib/keel/update/history.json" },
    runningVersion: options.version as Version.Version,
    arch: "amd64",
    trustedKeys: Effect.succeed([releaseKey.trusted]),
    health: options.health ?? { intervalMillis: 1_000, stabilityMillis: 5_000, timeoutMillis: 30_000 },
    checks: Effect.succeed([check]),
    reboot: (reason: string) => Effect.sync(() => void reboots.push(reason)),
    writer: { bufferBytes: 16 * 1024, syncEveryBytes: 64 * 1024, retryBaseMillis: 1 },
    ...(options.hooks === undefined ? {} : { hooks: options.hooks }),
    ...(options.registries === undefined ? {} : { registries: options.registries })
  }).pipe(
    Layer.provideMerge(BootControl.BootControl.layer),
    Layer.provideMerge(options.http === undefined ? hardware.layer() : Layer.merge(hardware.layer(), options.http))
  )
  return { layer, reboots }
}

/** Runs an install to its end and returns the phases it reported, or the error. */
export const installAll = (request: Partial<InstallRequest> & { readonly source: string }) =>
  Effect.gen(function*() {
    const engine = yield* UpdateEngine
    return yield* engine.install({ force: false, reboot: true, actor: "admin", ...request }).pipe(
      Stream.runCollect,
      Effect.map((progress) => progress.map((p) => p.phase)),
      Effect.catch((error: UpdateError.UpdateError) => Effect.succeed(error))
    )
  })
