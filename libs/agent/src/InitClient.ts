/**
 * keel-agent's client of keel-init's control socket. Transport failures become the node API's
 * `NodeFailure`, so an operator reads "init control socket: …" rather than an RPC transport error.
 */
import { Context, Effect, Layer } from "effect"
import { RpcClient, type RpcClientError, RpcSerialization } from "effect/rpc"
import type { Socket } from "effect/socket"
import { InitControl, NodeApi } from "@keelos/api"

export class InitClient extends Context.Service<InitClient, RpcClient.FromGroup<typeof InitControl.InitControl, RpcClientError.RpcClientError>>()(
  "@keelos/agent/InitClient"
) {
  /** Needs a socket connected to init's control socket. */
  static readonly layer: Layer.Layer<InitClient, never, Socket.Socket> = Layer.effect(InitClient)(RpcClient.make(InitControl.InitControl)).pipe(
    Layer.provide(RpcClient.layerProtocolSocket()),
    Layer.provide(RpcSerialization.layerNdjson)
  )
}

/** Replace a transport failure with the node API's NodeFailure; other errors pass through. */
export const nodeFailure = (operation: string) => <A, E, R>(effect: Effect.Effect<A, E | RpcClientError.RpcClientError, R>) =>
  Effect.catchIf(
    effect,
    (error): error is RpcClientError.RpcClientError => (error as { _tag?: unknown })._tag === "RpcClientError",
    (error) => Effect.fail(new NodeApi.NodeFailure({ operation, reason: `init control socket: ${error.message}` }))
  ) as Effect.Effect<A, Exclude<E, RpcClientError.RpcClientError> | NodeApi.NodeFailure, R>
