/**
 * A simulated network behind Effect's `HttpClient` contract: hosts are handlers in memory, and the
 * seed decides the faults a real network has: latency (on the virtual clock), dropped connections,
 * bodies cut short mid-transfer, bodies corrupted in flight (registries do serve corrupt blobs with
 * 200), and partitions that make a host unreachable.
 */
import { Effect, Layer } from "effect"
import { Headers, HttpClient, HttpClientError, HttpClientResponse } from "effect/http"
import type { HttpClientRequest } from "effect/http"
import type { Prng } from "./Prng.ts"
import type { Trace } from "./Trace.ts"
import { HttpDownload } from "@keelos/platform"

export interface SimRequest {
  readonly method: string
  readonly url: URL
  readonly headers: Readonly<Record<string, string>>
  readonly body: Uint8Array
}

export interface SimResponse {
  readonly status: number
  readonly headers?: Readonly<Record<string, string>>
  readonly body?: Uint8Array
}

export type Handler = (request: SimRequest) => Effect.Effect<SimResponse>

export interface NetworkFaults {
  /** Probability a request fails to connect or is reset before a response. */
  readonly drop: number
  /** Probability the response body stops short with a connection error. */
  readonly truncate: number
  /** Probability one byte of the response body is flipped. */
  readonly corrupt: number
  /** Latency is uniform in [0, maxLatencyMillis] on the virtual clock. */
  readonly maxLatencyMillis: number
}

export const noFaults: NetworkFaults = { drop: 0, truncate: 0, corrupt: 0, maxLatencyMillis: 0 }

export class SimNetwork {
  private readonly hosts = new Map<string, Handler>()
  private readonly partitioned = new Set<string>()
  private faults: NetworkFaults = noFaults
  private readonly prng: Prng
  private readonly trace: Trace

  constructor(prng: Prng, trace: Trace) {
    this.prng = prng
    this.trace = trace
  }

  /** Serves `handler` at `host` (as in a URL: name, or name:port). */
  serve(host: string, handler: Handler): void {
    this.hosts.set(host, handler)
  }

  setFaults(faults: NetworkFaults): void {
    this.faults = faults
  }

  /** Makes `host` unreachable until `heal`. */
  partition(host: string): void {
    this.partitioned.add(host)
    this.trace.record(`net partition ${host}`)
  }

  heal(host: string): void {
    this.partitioned.delete(host)
    this.trace.record(`net heal ${host}`)
  }

  private transportError(request: HttpClientRequest.HttpClientRequest, description: string) {
    return new HttpClientError.HttpClientError({ reason: new HttpClientError.TransportError({ request, description }) })
  }

  private exchange(request: HttpClientRequest.HttpClientRequest, url: URL) {
    const net = this
    return Effect.gen(function*() {
      const faults = net.faults
      if (faults.maxLatencyMillis > 0) yield* Effect.sleep(net.prng.int(faults.maxLatencyMillis + 1))
      const handler = net.hosts.get(url.host)
      const label = `${request.method} ${url.href}`
      if (handler === undefined || net.partitioned.has(url.host)) {
        net.trace.record(`net ${label}: unreachable`)
        return yield* net.transportError(request, `connect ${url.host}: host unreachable`)
      }
      if (net.prng.chance(faults.drop)) {
        net.trace.record(`net ${label}: dropped`)
        return yield* net.transportError(request, "connection reset by peer")
      }
      const body = request.body._tag === "Uint8Array" ? request.body.body : new Uint8Array(0)
      const response = yield* handler({ method: request.method, url, headers: { ...request.headers }, body })
      let payload = response.body ?? new Uint8Array(0)
      if (payload.length > 0 && net.prng.chance(faults.corrupt)) {
        payload = payload.slice()
        const at = net.prng.int(payload.length)
        payload[at] = payload[at]! ^ (1 << net.prng.int(8))
        net.trace.record(`net ${label}: byte ${at} corrupted`)
      }
      const cutAt = payload.length > 0 && net.prng.chance(faults.truncate) ? net.prng.int(payload.length) : undefined
      net.trace.record(`net ${label}: ${response.status}, ${payload.length} bytes${cutAt === undefined ? "" : `, cut at ${cutAt}`}`)
      // The prefix before a cut is delivered first and the reset comes on the next read, as on a real
      // socket (an error raised together with the enqueue would discard the queued prefix).
      let delivered = false
      const stream = new ReadableStream<Uint8Array>({
        pull(controller) {
          const prefix = cutAt === undefined ? payload : payload.slice(0, cutAt)
          if (!delivered && prefix.length > 0) {
            delivered = true
            controller.enqueue(prefix)
          } else if (cutAt === undefined) {
            controller.close()
          } else {
            controller.error(new Error("connection reset by peer"))
          }
        }
      })
      const headers = new globalThis.Headers({ "content-length": String(payload.length), ...(response.headers ?? {}) })
      return HttpClientResponse.fromWeb(request, new Response(stream, { status: response.status, headers }))
    })
  }

  /** The HttpClient of a machine on this network, and the HttpDownload over it. */
  layer(): Layer.Layer<HttpClient.HttpClient | HttpDownload.HttpDownload> {
    const client = Layer.succeed(HttpClient.HttpClient)(HttpClient.make((request, url) => this.exchange(request, url)))
    return Layer.merge(client, Layer.provide(HttpDownload.HttpDownload.layerFromHttpClient, client))
  }
}

/** Reads a header of a simulated request, case-insensitively. */
export const header = (request: SimRequest, name: string): string | undefined => Headers.get(request.headers as Headers.Headers, name).pipe((o) => (o._tag === "Some" ? o.value : undefined))
