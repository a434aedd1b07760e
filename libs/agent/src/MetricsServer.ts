/**
 * GET /metrics on its own HTTP server (:9100 on a node, the Prometheus convention): read-only facts,
 * no secrets, so plain HTTP like every Prometheus exporter; the API itself is mutual TLS only. A
 * node that cannot gather its facts answers 503 with the reason.
 */
import { Effect } from "effect"
import { HttpRouter, HttpServerResponse } from "effect/http"
import * as Metrics from "./Metrics.ts"
import { NodeFacts } from "./NodeFacts.ts"

const route = HttpRouter.use((router) =>
  Effect.gen(function*() {
    const facts = yield* NodeFacts
    yield* router.add(
      "GET",
      "/metrics",
      facts.gather("metrics").pipe(
        Effect.map((f) => HttpServerResponse.text(Metrics.render(f), { contentType: Metrics.contentType })),
        Effect.catch((error) => Effect.succeed(HttpServerResponse.text(`${error.message}\n`, { status: 503 })))
      )
    )
  })
)

/** Needs NodeFacts and an HTTP server of its own. */
export const layer = HttpRouter.serve(route, { disableLogger: true, disableListenLog: true })
