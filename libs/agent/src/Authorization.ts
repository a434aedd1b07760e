/**
 * The authorization middleware of the node API. The caller is the certificate the TLS stack
 * verified (read from the secret server-side header TlsPeer names, never from a header a client
 * can set); its role is the certificate's Organization. A call whose role is below the operation's
 * least role is refused. Every call, allowed or refused, is audited with its result and duration.
 */
import { Cause, Clock, Context, Effect, Exit, Layer, Option, Schema } from "effect"
import { NodeApi } from "@keelos/api"
import { TlsPeer } from "@keelos/platform"
import { Audit, summarize } from "./Audit.ts"

const decodePeer = Schema.decodeUnknownOption(Schema.fromJsonString(TlsPeer.PeerCertificate))
const isRole = Schema.is(NodeApi.Role)

/** The caller a verified certificate stands for, or why it stands for none. */
export const callerOf = (peer: TlsPeer.PeerCertificate): NodeApi.Caller | string => {
  const roles = peer.organizations.filter(isRole)
  if (roles.length !== 1) {
    return roles.length === 0
      ? `certificate ${peer.commonName} carries no KeelOS role (Organization must be one of ${NodeApi.roles.join(", ")})`
      : `certificate ${peer.commonName} carries more than one KeelOS role`
  }
  return { commonName: peer.commonName, role: roles[0]!, serial: peer.serial, notAfterMillis: peer.notAfterMillis }
}

const resultOf = (exit: Exit.Exit<unknown, unknown>): string => {
  if (Exit.isSuccess(exit)) return "ok"
  const error = Cause.squash(exit.cause)
  if (Cause.hasInterruptsOnly(exit.cause)) return "interrupted"
  return typeof error === "object" && error !== null && "_tag" in error ? `error: ${String(error._tag)}` : "error: defect"
}

export const layer: Layer.Layer<NodeApi.Authorization, never, TlsPeer.TlsPeer | Audit> = Layer.effect(NodeApi.Authorization)(
  Effect.gen(function*() {
    const tls = yield* TlsPeer.TlsPeer
    const audit = yield* Audit
    return NodeApi.Authorization.of((effect, { headers, payload, rpc }) =>
      Effect.gen(function*() {
        const started = yield* Clock.currentTimeMillis
        const operation = rpc._tag
        const peer = Option.getOrUndefined(decodePeer(headers[tls.header]))
        const caller = peer === undefined ? "no verified client certificate" : callerOf(peer)
        const minimum = Context.get(rpc.annotations, NodeApi.MinimumRole)
        const refusal = typeof caller === "string"
          ? caller
          : NodeApi.allows(caller.role, minimum)
          ? undefined
          : `${operation} needs role ${minimum} or above; ${caller.commonName} has ${caller.role}`
        const exit = refusal === undefined && typeof caller !== "string"
          ? yield* Effect.exit(Effect.provideService(effect, NodeApi.CurrentCaller, caller))
          : Exit.fail(new NodeApi.Unauthorized({ operation, reason: refusal ?? "refused" }))
        const finished = yield* Clock.currentTimeMillis
        yield* audit.record({
          atMillis: started,
          commonName: peer?.commonName ?? "",
          role: typeof caller === "string" ? (peer?.organizations.join(",") ?? "") : caller.role,
          operation,
          arguments: summarize(payload),
          result: refusal === undefined ? resultOf(exit) : `denied: ${refusal}`,
          durationMillis: finished - started
        })
        return yield* exit
      })
    )
  })
)
