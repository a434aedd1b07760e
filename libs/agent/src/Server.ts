/**
 * The node API on an HTTP server: POST /rpc, ndjson framing so streams stream. Before the RPC layer
 * sees a request, the verified client certificate is written under TlsPeer's secret header (and
 * any copy of that header a client sent is overwritten), and a request that came without one is
 * answered 401; the Authorization middleware then reads the caller from there.
 */
import { Effect, Layer, Option } from "effect"
import { Headers, HttpRouter, HttpServerRequest, HttpServerResponse } from "effect/http"
import { RpcSerialization, RpcServer } from "effect/rpc"
import { NodeApi } from "@keelos/api"
import { TlsPeer } from "@keelos/platform"

const route = HttpRouter.use((router) =>
  Effect.gen(function*() {
    const tls = yield* TlsPeer.TlsPeer
    const rpc = yield* RpcServer.toHttpEffect(NodeApi.NodeApi)
    yield* router.add(
      "POST",
      "/rpc",
      Effect.gen(function*() {
        const request = yield* HttpServerRequest.HttpServerRequest
        const peer = yield* tls.identify(request)
        if (Option.isNone(peer)) return HttpServerResponse.text("a client certificate signed by the cluster CA is required\n", { status: 401 })
        const headers = Headers.set(request.headers, tls.header, JSON.stringify(peer.value))
        return yield* Effect.provideService(rpc, HttpServerRequest.HttpServerRequest, request.modify({ headers }))
      })
    )
  })
)

/** Serves the node API; needs the handlers, the Authorization middleware and an HTTP server with its TlsPeer. */
export const layer = HttpRouter.serve(route, { disableLogger: true, disableListenLog: true }).pipe(
  Layer.provide(RpcSerialization.layerNdjson)
)
