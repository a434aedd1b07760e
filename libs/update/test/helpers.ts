/** Simulated machines and image servers for the update engine's tests. */
import { createHash } from "node:crypto"
import { Effect } from "effect"
import { SimHardware, SimNetwork } from "@keelos/platform-sim"

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
