/**
 * The agent listens before its API serves (engines are built in between): a client that connects in
 * that gap must get its answer once the API serves, not wait for ever.
 */
import * as https from "node:https"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { Context, Effect, Exit, Layer, Scope } from "effect"
import { HttpServer, HttpServerResponse } from "effect/http"
import { NodeMtlsServer } from "@keelos/platform-node"
import { makePki, type TestPki } from "./fixture.ts"

let pki: TestPki

beforeAll(async () => {
  pki = await makePki()
}, 30_000)

interface Answer {
  readonly status: number
  readonly body: string
}

/** One HTTPS request with the admin's client certificate; resolves when it is answered. */
const request = (port: number, agent: https.Agent): Promise<Answer> =>
  new Promise((resolve, reject) => {
    const req = https.request({ host: "127.0.0.1", port, path: "/", method: "GET", ca: pki.ca.cert, ...pki.admin, servername: "localhost", agent }, (res) => {
      let body = ""
      res.setEncoding("utf8")
      res.on("data", (chunk: string) => (body += chunk))
      res.on("end", () => resolve({ status: res.statusCode ?? 0, body }))
    })
    req.on("error", reject)
    req.end()
  })

const settledWithin = <A>(promise: Promise<A>, millis: number): Promise<boolean> =>
  Promise.race([promise.then(() => true, () => true), new Promise<boolean>((resolve) => setTimeout(() => resolve(false), millis))])

describe("a request that arrives before the API serves", () => {
  let listening: Scope.Closeable
  let serving: Scope.Closeable
  const agent = new https.Agent({ keepAlive: false })

  afterAll(async () => {
    agent.destroy()
    if (serving !== undefined) await Effect.runPromise(Scope.close(serving, Exit.void))
    if (listening !== undefined) await Effect.runPromise(Scope.close(listening, Exit.void))
  })

  it("waits, and every one is answered by the handler attached later", async () => {
    listening = Effect.runSync(Scope.make())
    const context = await Effect.runPromise(
      Layer.buildWithScope(NodeMtlsServer.layer({ ca: pki.ca.cert, ...pki.server, host: "127.0.0.1", port: 0 }), listening)
    )
    const address = Context.get(context, HttpServer.HttpServer).address
    if (address._tag === "UnixPathAddress") throw new Error("expected a TCP address")
    const port = address.port

    const early = [request(port, agent), request(port, agent), request(port, agent)]
    expect(await settledWithin(Promise.all(early), 300)).toBe(false)

    serving = Effect.runSync(Scope.make())
    const app = Effect.succeed(HttpServerResponse.text("served"))
    await Effect.runPromise(HttpServer.serveEffect(app).pipe(Effect.provideContext(context), Scope.provide(serving)))
    expect(await Promise.all(early)).toEqual([{ status: 200, body: "served" }, { status: 200, body: "served" }, { status: 200, body: "served" }])
    expect(await request(port, agent)).toEqual({ status: 200, body: "served" })
  }, 30_000)
})
