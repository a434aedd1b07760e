/** A plain HTTP server on a TCP port, for what is served without TLS: the metrics. */
import * as http from "node:http"
import type { Layer } from "effect"
import type { HttpServer } from "effect/http"
import * as NodeHttpServer from "@effect/platform-node/NodeHttpServer"

export const layer = (options: { readonly host: string; readonly port: number }): Layer.Layer<HttpServer.HttpServer, unknown> =>
  NodeHttpServer.layer(() => http.createServer(), { host: options.host, port: options.port })
