/**
 * Listening on a unix control socket (keel-init's /run/keel/init.sock). A service rather than a
 * ready-made socket server, because init may listen only after early boot has mounted /run.
 */
import { Context, Effect, Schema } from "effect"
import type { Scope } from "effect"
import type { SocketServer } from "effect/socket"

export class ControlSocketError extends Schema.TaggedError<ControlSocketError>()("ControlSocketError", {
  path: Schema.String,
  detail: Schema.String
}) {
  override get message(): string {
    return `control socket ${this.path}: ${this.detail}`
  }
}

export class ControlSocket extends Context.Service<ControlSocket, {
  /** Listens on `path` (replacing a stale socket file) until the scope closes. */
  readonly listen: (path: string) => Effect.Effect<SocketServer.SocketServer["Service"], ControlSocketError, Scope.Scope>
}>()("@keelos/platform/ControlSocket") {}
