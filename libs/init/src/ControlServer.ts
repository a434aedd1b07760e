/**
 * Serves the InitControl RPC group on the control socket: service status and control, output tails
 * and follows, supervision events, power requests handed to the init program, and network changes
 * handed to the NetworkManager.
 */
import { Deferred, Effect, Layer, PubSub, Stream } from "effect"
import { RpcSerialization, RpcServer } from "effect/rpc"
import type { SocketServer } from "effect/socket"
import { InitControl } from "@keelos/api"
import { NetworkConfig, type NetworkManager } from "@keelos/network"
import type { Supervisor } from "@keelos/supervisor"

export interface PowerRequest {
  readonly action: InitControl.PowerAction
  readonly reason: string
}

export interface ControlDeps {
  readonly supervisor: Supervisor.Supervisor
  readonly events: PubSub.PubSub<InitControl.SupervisorEvent>
  readonly logs: PubSub.PubSub<InitControl.LogLine>
  readonly power: Deferred.Deferred<PowerRequest>
  /** The node's network; absent in host mode, where the network is the host's. */
  readonly network: NetworkManager.NetworkManager | undefined
}

const networkOf = (deps: ControlDeps) =>
  deps.network === undefined ? Effect.fail(new InitControl.NetworkNotManaged()) : Effect.succeed(deps.network)

const failed = (error: { readonly operation: "apply" | "confirm"; readonly reason: string }) =>
  new InitControl.NetworkChangeFailed({ operation: error.operation, reason: error.reason })

const unknown = (service: string) => () => new InitControl.UnknownService({ service })

export const handlers = (deps: ControlDeps) =>
  InitControl.InitControl.toLayer({
    ListServices: () => deps.supervisor.statuses,
    StartService: ({ service }) => Effect.mapError(deps.supervisor.start(service), unknown(service)),
    StopService: ({ service }) => Effect.mapError(deps.supervisor.stop(service), unknown(service)),
    RestartService: ({ service }) => Effect.mapError(deps.supervisor.restart(service), unknown(service)),
    SignalService: ({ service, signal }) =>
      Effect.mapError(deps.supervisor.signal(service, signal), unknown(service)).pipe(Effect.map((delivered) => ({ delivered }))),
    ServiceLogs: ({ service, tail, follow }) =>
      Stream.unwrap(Effect.gen(function*() {
        // Subscribe before reading the tail, so no line falls between the two.
        const subscription = follow ? yield* PubSub.subscribe(deps.logs) : undefined
        const kept = yield* Effect.mapError(deps.supervisor.logs(service), unknown(service))
        const past = Stream.fromIterable(kept.slice(Math.max(0, kept.length - tail)).map((l) => ({ ...l, service })))
        if (subscription === undefined) return past
        const live = Stream.fromSubscription(subscription).pipe(Stream.filter((l) => l.service === service))
        return Stream.concat(past, live)
      })),
    Events: () => Stream.fromPubSub(deps.events),
    Power: ({ action, reason }) => Effect.map(Deferred.succeed(deps.power, { action, reason }), (accepted) => ({ accepted })),
    ApplyNetwork: ({ config, mode, timeoutMillis }) =>
      Effect.gen(function*() {
        const network = yield* networkOf(deps)
        const decoded = yield* Effect.mapError(NetworkConfig.decode(config, "the network configuration"), (e) => failed({ operation: "apply", reason: e.message }))
        return yield* Effect.mapError(network.apply(decoded, mode === "try" ? { _tag: "try", timeoutMillis } : { _tag: "apply" }), failed)
      }),
    ConfirmNetwork: () => Effect.flatMap(networkOf(deps), (network) => Effect.mapError(network.confirm, failed))
  })

/** The control server; needs the socket server bound to the control socket's path. */
export const layer = (deps: ControlDeps): Layer.Layer<never, never, SocketServer.SocketServer> =>
  RpcServer.layer(InitControl.InitControl).pipe(
    Layer.provide(handlers(deps)),
    Layer.provide(RpcServer.layerProtocolSocketServer),
    Layer.provide(RpcSerialization.layerNdjson)
  )
