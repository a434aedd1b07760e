/**
 * The server side of a unix control socket (keel-init's /run/keel/init.sock): removes a stale
 * socket file left by a previous run, listens, and is readable and writable by root only.
 */
import * as fs from "node:fs"
import { Effect, Layer } from "effect"
import { NodeSocketServer } from "@effect/platform-node"
import type { SocketServer } from "effect/socket"

export const layer = (path: string): Layer.Layer<SocketServer.SocketServer, SocketServer.SocketServerError> =>
  Layer.unwrap(Effect.sync(() => {
    fs.rmSync(path, { force: true })
    return NodeSocketServer.layer({ path }).pipe(Layer.tap(() => Effect.sync(() => fs.chmodSync(path, 0o600))))
  }))
