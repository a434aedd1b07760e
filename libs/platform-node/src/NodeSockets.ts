/** Socket probes with node:net: connect, and close at once. */
import * as net from "node:net"
import { Effect, Layer } from "effect"
import { Sockets } from "@keelos/platform"

const probe = (options: net.NetConnectOpts) =>
  Effect.callback<boolean>((resume) => {
    const socket = net.createConnection(options)
    const done = (ok: boolean) => {
      socket.destroy()
      resume(Effect.succeed(ok))
    }
    socket.once("connect", () => done(true))
    socket.once("error", () => done(false))
    return Effect.sync(() => socket.destroy())
  })

export const make: Sockets.Sockets["Service"] = {
  canConnectTcp: (host, port) => probe({ host, port }),
  canConnect: (path) => probe({ path })
}

export const layer: Layer.Layer<Sockets.Sockets> = Layer.succeed(Sockets.Sockets)(make)
