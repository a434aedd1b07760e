/**
 * Every Node HTTP server of the agent listens before its handler is attached (Effect's HttpServer
 * listens when its layer is built and serves when the app's layer is): a request that arrives in that
 * gap would get no answer at all from Node. This holds such requests, bounded, and hands them to the
 * handler the moment one is attached.
 */
import type { IncomingMessage, Server, ServerResponse } from "node:http"

/** How many requests may wait for a server to start serving; more are answered 503. */
export const startingLimit = 256

type Handler = (request: IncomingMessage, response: ServerResponse) => void

const unavailable = (response: ServerResponse, reason: string) => {
  response.writeHead(503, { "content-type": "text/plain", "retry-after": "1" }).end(`${reason}\n`)
}

/**
 * Holds requests while no handler serves them: until the first one is attached they wait (up to
 * `startingLimit`) and are then handed to it in order; once it has been removed (the server is
 * stopping) they are answered 503 instead of being left open.
 */
export const holdUntilServed = <S extends Server>(server: S): S => {
  let waiting: Array<[IncomingMessage, ServerResponse]> = []
  let served = false
  const hold: Handler = (request, response) => {
    if (server.listenerCount("request") > 1) return
    if (served) return unavailable(response, "the server is stopping")
    if (waiting.length >= startingLimit) return unavailable(response, "the server is starting")
    waiting.push([request, response])
  }
  server.on("request", hold)
  server.on("newListener", (event: string | symbol, listener: Handler) => {
    if (event !== "request" || listener === hold) return
    served = true
    const held = waiting
    waiting = []
    // Node adds the listener after this event: hand the held requests over once it is in place.
    process.nextTick(() => {
      for (const [request, response] of held) if (!response.destroyed) listener(request, response)
    })
  })
  return server
}
