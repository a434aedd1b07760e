/**
 * A plain HTTP server on a TCP port, for what is served without TLS: the metrics. node:http is taken
 * as its CommonJS exports: importing it as ESM evaluates its lazy WebSocket exports, which loads and
 * compiles Node's bundled undici (8 ms of keel-agent's start natively, seconds under TCG).
 */
import type * as Http from "node:http"
import type { Layer } from "effect"
import type { HttpServer } from "effect/http"
import * as DaemonHttpServer from "./internal/daemonHttpServer.ts"
import { holdUntilServed } from "./internal/holdUntilServed.ts"

export const layer = (options: { readonly host: string; readonly port: number }): Layer.Layer<HttpServer.HttpServer, unknown> =>
  DaemonHttpServer.layer(() => holdUntilServed((process.getBuiltinModule("node:http") as typeof Http).createServer()), { host: options.host, port: options.port })
