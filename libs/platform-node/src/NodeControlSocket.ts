/**
 * The server side of a unix control socket: creates its directory (root only), removes a stale
 * socket file left by a previous run, listens, and makes the socket readable and writable by root
 * only.
 */
import * as fs from "node:fs"
import * as nodePath from "node:path"
import { Effect, Layer } from "effect"
import * as NodeSocketServer from "@effect/platform-node/NodeSocketServer"
import { ControlSocket } from "@keelos/platform"

export const make: ControlSocket.ControlSocket["Service"] = {
  listen: (path) =>
    Effect.gen(function*() {
      yield* Effect.try({
        try: () => {
          fs.mkdirSync(nodePath.dirname(path), { recursive: true, mode: 0o700 })
          fs.rmSync(path, { force: true })
        },
        catch: (error) => new ControlSocket.ControlSocketError({ path, detail: (error as Error).message })
      })
      const server = yield* NodeSocketServer.make({ path }).pipe(
        Effect.mapError((error) => new ControlSocket.ControlSocketError({ path, detail: error.message }))
      )
      yield* Effect.try({
        try: () => fs.chmodSync(path, 0o600),
        catch: (error) => new ControlSocket.ControlSocketError({ path, detail: (error as Error).message })
      })
      return server
    })
}

export const layer: Layer.Layer<ControlSocket.ControlSocket> = Layer.succeed(ControlSocket.ControlSocket)(make)
