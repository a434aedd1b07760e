/**
 * Unix socket probes, for readiness checks ("containerd is ready when its socket accepts").
 */
import { Context, Effect } from "effect"

export class Sockets extends Context.Service<Sockets, {
  /** Whether a connection to the unix socket at `path` is accepted now. */
  readonly canConnect: (path: string) => Effect.Effect<boolean>
}>()("@keelos/platform/Sockets") {}
