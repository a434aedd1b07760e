/**
 * Reads the certificate a TLS server presents, without trusting it: what a client that has no
 * trust anchor yet (osctl bootstrapping a node) binds its proof to, and then pins.
 */
import { createHash, randomBytes } from "node:crypto"
import * as net from "node:net"
import * as tls from "node:tls"
import { Effect, Schema } from "effect"

export class TlsProbeError extends Schema.TaggedError<TlsProbeError>()("TlsProbeError", { endpoint: Schema.String, reason: Schema.String }) {
  override get message(): string {
    return `${this.endpoint}: ${this.reason}`
  }
}

export interface PresentedCertificate {
  readonly pem: string
  readonly sha256: string
}

export const peerCertificate = (host: string, port: number): Effect.Effect<PresentedCertificate, TlsProbeError> =>
  Effect.callback<PresentedCertificate, TlsProbeError>((resume) => {
    const socket = tls.connect({ host, port, rejectUnauthorized: false, minVersion: "TLSv1.3", ...(net.isIP(host) === 0 ? { servername: host } : {}) }, () => {
      const raw = socket.getPeerCertificate().raw
      socket.end()
      const body = raw.toString("base64").replace(/(.{64})/g, "$1\n").replace(/\n$/, "")
      resume(Effect.succeed({ pem: `-----BEGIN CERTIFICATE-----\n${body}\n-----END CERTIFICATE-----\n`, sha256: createHash("sha256").update(raw).digest("hex") }))
    })
    socket.setTimeout(15_000, () => socket.destroy(new Error("timed out")))
    socket.on("error", (error: NodeJS.ErrnoException) =>
      resume(Effect.fail(new TlsProbeError({ endpoint: `${host}:${port}`, reason: error.code === "ECONNREFUSED" ? "connection refused" : error.message }))))
    return Effect.sync(() => socket.destroy())
  })

/** A one-time token: 32 random bytes, hex. */
export const randomToken: Effect.Effect<string> = Effect.sync(() => randomBytes(32).toString("hex"))
