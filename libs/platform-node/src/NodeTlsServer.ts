/**
 * An HTTPS server that asks for no client certificate: only for a node's first-trust bootstrap,
 * where the caller authenticates with a token-derived proof instead (BootstrapApi). TLS 1.3 only.
 */
import * as https from "node:https"
import type { Layer } from "effect"
import type { HttpServer } from "effect/http"
import * as DaemonHttpServer from "./internal/daemonHttpServer.ts"
import { holdUntilServed } from "./internal/holdUntilServed.ts"

export const layer = (options: { readonly cert: string; readonly key: string; readonly host: string; readonly port: number }): Layer.Layer<HttpServer.HttpServer, unknown> =>
  DaemonHttpServer.layer(() => holdUntilServed(https.createServer({ cert: options.cert, key: options.key, minVersion: "TLSv1.3" })), { host: options.host, port: options.port })
