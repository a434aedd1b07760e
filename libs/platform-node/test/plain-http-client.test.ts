/**
 * NodePlainHttpClient: keel-init's HTTP client over real sockets, plain http and https (with a
 * certificate made by openssl), its https agent made only when an https URL is fetched.
 */
import { execFileSync } from "node:child_process"
import * as fs from "node:fs"
import * as http from "node:http"
import * as https from "node:https"
import * as os from "node:os"
import * as path from "node:path"
import { afterEach, describe, expect, it } from "vitest"
import { Effect } from "effect"
import { HttpClient } from "effect/http"
import * as NodePlainHttpClient from "../src/NodePlainHttpClient.ts"

const servers: Array<http.Server> = []
afterEach(() => {
  for (const server of servers.splice(0)) server.close()
})
const listen = (server: http.Server) =>
  new Promise<number>((resolve) => {
    servers.push(server)
    server.listen(0, "127.0.0.1", () => resolve((server.address() as { port: number }).port))
  })
const answer = (request: http.IncomingMessage, response: http.ServerResponse) => response.end(`you asked for ${request.url}`)
const get = (url: string) =>
  Effect.runPromise(
    Effect.gen(function*() {
      const response = yield* HttpClient.get(url)
      return { status: response.status, body: yield* response.text }
    }).pipe(Effect.scoped, Effect.provide(NodePlainHttpClient.layer))
  )

describe("NodePlainHttpClient", () => {
  it("gets over plain http", async () => {
    const port = await listen(http.createServer(answer))
    expect(await get(`http://127.0.0.1:${port}/ready`)).toEqual({ status: 200, body: "you asked for /ready" })
  })

  it("gets over https, the agent made when the request needs it", async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "keel-plain-http-"))
    execFileSync("openssl", ["req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-days", "1", "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1", "-keyout", path.join(dir, "key.pem"), "-out", path.join(dir, "cert.pem")], { stdio: "ignore" })
    const cert = fs.readFileSync(path.join(dir, "cert.pem"), "utf8")
    const port = await listen(https.createServer({ key: fs.readFileSync(path.join(dir, "key.pem")), cert }, answer))
    // The server's certificate is not in the default trust store: the request reaches TLS and is refused there.
    const refused = await get(`https://127.0.0.1:${port}/seed`).then(() => "fetched", (error: { cause?: unknown }) => String(error.cause))
    expect(refused).toContain("self-signed certificate")
  })
})
