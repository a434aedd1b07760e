/**
 * Effect's node:http client for keel-init, with its agents made on first use. Effect's own
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
    // Both on first use: at boot node:http alone took 0.15 s of keel-init's start under TCG.
    let http: Http.Agent | undefined
    let https: Https.Agent | undefined
    return {
      get http(): Http.Agent {
        return (http ??= new (process.getBuiltinModule("node:http").Agent)())
      },
      get https(): Https.Agent {
        return (https ??= new (process.getBuiltinModule("node:https").Agent)())
      },
      destroy: () => {
        http?.destroy()
        https?.destroy()
      }
    }
  }),
  (made) => Effect.sync(() => made.destroy())
)

/** HttpClient over node:http and node:https, each loaded when a request first needs it. */
export const layer = Layer.provide(NodeHttpClient.layerNodeHttpNoAgent, Layer.effect(NodeHttpClient.HttpAgent)(agents))
