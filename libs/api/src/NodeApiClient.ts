/** A client of the node API at one endpoint (`https://host:50051/rpc`), over whatever HttpClient is given (mutual TLS in practice). */
import { Context, Layer } from "effect"
import type { HttpClient } from "effect/http"
import { RpcClient, type RpcClientError, RpcSerialization } from "effect/rpc"
import { NodeApi } from "./NodeApi.ts"

export class NodeApiClient extends Context.Service<NodeApiClient, RpcClient.FromGroup<typeof NodeApi, RpcClientError.RpcClientError>>()(
  "@keelos/api/NodeApiClient"
) {
  static readonly layer = (url: string): Layer.Layer<NodeApiClient, never, HttpClient.HttpClient> =>
    Layer.effect(NodeApiClient)(RpcClient.make(NodeApi)).pipe(
      Layer.provide(RpcClient.layerProtocolHttp({ url })),
      Layer.provide(RpcSerialization.layerNdjson)
    )
}

/** The RPC URL of a node given as `host`, `host:port` or `[v6]:port`. */
export const urlOf = (endpoint: string, defaultPort: number): string => {
  const hasPort = endpoint.startsWith("[") ? endpoint.includes("]:") : endpoint.includes(":") && endpoint.indexOf(":") === endpoint.lastIndexOf(":")
  const host = !endpoint.startsWith("[") && endpoint.split(":").length > 2 ? `[${endpoint}]` : endpoint
  return `https://${hasPort ? endpoint : `${host}:${defaultPort}`}/rpc`
}

/** The innermost cause of a transport failure: the socket or TLS error code and its message. */
export const transportCause = (error: unknown): { readonly code: string | undefined; readonly message: string } => {
  let current: unknown = error
  let found = { code: undefined as string | undefined, message: String((error as { message?: unknown })?.message ?? error) }
  for (let depth = 0; typeof current === "object" && current !== null && depth < 8; depth++) {
    const { code, message } = current as { code?: unknown; message?: unknown }
    if (typeof code === "string") found = { code, message: typeof message === "string" ? message : code }
    current = (current as { cause?: unknown }).cause ?? (current as { reason?: unknown }).reason
  }
  return found
}
