/**
 * GET /metrics on its own HTTP server (:9100 on a node, the Prometheus convention): read-only facts,
 * no secrets, so plain HTTP like every Prometheus exporter; the API itself is mutual TLS only. A
 * node that cannot gather its facts answers 503 with the reason.
 */
import { Effect, Option } from "effect"
import { HttpRouter, HttpServerResponse } from "effect/http"
import { UpdateEngine } from "@keelos/update"
import * as Metrics from "./Metrics.ts"
import { NodeFacts } from "./NodeFacts.ts"

const route = HttpRouter.use((router) =>
  Effect.gen(function*() {
    const facts = yield* NodeFacts
    const engine = yield* Effect.serviceOption(UpdateEngine)
    const update = Option.isNone(engine)
      ? Effect.succeed(null)
      : Effect.gen(function*() {
        const state = yield* Effect.orElseSucceed(engine.value.state, () => null)
        const gate = yield* engine.value.lastHealth
        return state === null ? null : { state, gate: gate === null ? null : { verdict: gate.verdict, checks: gate.results } }
      })
    yield* router.add(
      "GET",
      "/metrics",
      Effect.all([facts.gather("metrics"), update]).pipe(
        Effect.map(([f, u]) => HttpServerResponse.text(Metrics.render(f, u), { contentType: Metrics.contentType })),
        Effect.catch((error) => Effect.succeed(HttpServerResponse.text(`${error.message}\n`, { status: 503 })))
      )
    )
  })
)

/** Needs NodeFacts and an HTTP server of its own; reports the update engine when there is one. */
export const layer = HttpRouter.serve(route, { disableLogger: true, disableListenLog: true })
