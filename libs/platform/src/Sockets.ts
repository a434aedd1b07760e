/**
 * Socket probes, for readiness checks ("containerd is ready when its socket accepts", "the agent
 * is ready when its port accepts").
 */
import { Context, Effect } from "effect"

export class Sockets extends Context.Service<Sockets, {
  /** Whether a connection to the unix socket at `path` is accepted now. */
  readonly canConnect: (path: string) => Effect.Effect<boolean>
  /** Whether a TCP connection to host:port is accepted now. */
  readonly canConnectTcp: (host: string, port: number) => Effect.Effect<boolean>
}>()("@keelos/platform/Sockets") {}
