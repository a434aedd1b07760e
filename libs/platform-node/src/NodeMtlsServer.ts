/**
 * An HTTPS server that speaks TLS 1.3 only and demands a client certificate signed by the given CA:
 * a connection without one, or with one from another CA or out of its validity, fails in the
 * handshake and never reaches a handler. Provides the Effect HttpServer, the TlsPeer that reads
 * the verified certificate off the request's socket, and TlsCredentials to rotate the server's own
 * certificate while it runs (setSecureContext).
 *
 * The server listens before the API serves (the agent builds its engines in between): a request
 * that arrives in that gap waits, bounded, for the API's handler (internal/holdUntilServed.ts).
 */
import { randomBytes } from "node:crypto"
import * as https from "node:https"
import type { TLSSocket } from "node:tls"
import { Effect, Layer, Option } from "effect"
import type { HttpServer } from "effect/http"
import * as NodeHttpServerRequest from "@effect/platform-node/NodeHttpServerRequest"
import { TlsCredentials, TlsPeer } from "@keelos/platform"
import * as DaemonHttpServer from "./internal/daemonHttpServer.ts"
import { holdUntilServed } from "./internal/holdUntilServed.ts"

export interface MtlsOptions {
  readonly ca: string
  readonly cert: string
  readonly key: string
  readonly port: number
  readonly host: string
}

const first = (value: string | Array<string> | undefined): ReadonlyArray<string> =>
  value === undefined ? [] : Array.isArray(value) ? value : [value]

export const identify: TlsPeer.TlsPeer["Service"]["identify"] = (request) =>
  Effect.sync(() => {
    const socket = NodeHttpServerRequest.toIncomingMessage(request).socket as TLSSocket
    if (socket.authorized !== true) return Option.none()
    const cert = socket.getPeerCertificate()
    if (cert === null || cert.subject === undefined) return Option.none()
    return Option.some({
      commonName: first(cert.subject.CN)[0] ?? "",
      organizations: [...first(cert.subject.O)],
      serial: cert.serialNumber,
      notAfterMillis: Date.parse(cert.valid_to)
    })
  })

const secureOptions = (options: { readonly ca: string; readonly cert: string; readonly key: string }) => ({
  ca: options.ca,
  cert: options.cert,
  key: options.key,
  minVersion: "TLSv1.3" as const,
  requestCert: true,
  rejectUnauthorized: true
})

/** The server, its peer reader and its replaceable credentials. Fails with the listen error (port in use, no permission). */
export const layer = (options: MtlsOptions): Layer.Layer<HttpServer.HttpServer | TlsPeer.TlsPeer | TlsCredentials.TlsCredentials, unknown> => {
  let server: https.Server | undefined
  return Layer.mergeAll(
    DaemonHttpServer.layer(() => (server = holdUntilServed(https.createServer(secureOptions(options)))), { port: options.port, host: options.host }),
    Layer.sync(TlsPeer.TlsPeer)(() => ({ identify, header: `x-keel-peer-${randomBytes(16).toString("hex")}` })),
    Layer.succeed(TlsCredentials.TlsCredentials)({
      replace: (pair) =>
        Effect.try({
          try: () => {
            if (server === undefined) throw new Error("the server is not listening")
            server.setSecureContext(secureOptions({ ca: options.ca, ...pair }))
          },
          catch: (error) => new TlsCredentials.TlsCredentialsError({ reason: error instanceof Error ? error.message : String(error) })
        })
    })
  )
}
