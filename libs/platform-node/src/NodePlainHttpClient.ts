/**
 * Effect's node:http client for keel-init, with the https agent made on first use. Effect's own
 * layer makes an http and an https agent at once, and loading node:https loads tls and crypto: about
 * 5 MB resident in a PID 1 whose HTTP is readiness checks and seed documents on plain http. An https
 * URL (a seed source may be one) still works; it loads node:https then.
 */
import type * as Http from "node:http"
import type * as Https from "node:https"
import { Effect, Layer } from "effect"
import * as NodeHttpClient from "@effect/platform-node/NodeHttpClient"

const agents = Effect.acquireRelease(
  Effect.sync(() => {
    // The CommonJS exports: importing node:http as ESM evaluates its lazy WebSocket exports (undici).
    const http: Http.Agent = new (process.getBuiltinModule("node:http").Agent)()
    let https: Https.Agent | undefined
    return {
      http,
      get https(): Https.Agent {
        return (https ??= new (process.getBuiltinModule("node:https").Agent)())
      },
      destroy: () => {
        http.destroy()
        https?.destroy()
      }
    }
  }),
  (made) => Effect.sync(() => made.destroy())
)

/** HttpClient over node:http, node:https loaded when a request first needs it. */
export const layer = Layer.provide(NodeHttpClient.layerNodeHttpNoAgent, Layer.effect(NodeHttpClient.HttpAgent)(agents))
