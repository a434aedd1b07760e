/**
 * The identity a mutual-TLS server verified for a request: the client certificate's subject, serial
 * and expiry, read from the TLS session, never from anything the client sent inside a message.
 *
 * effect/rpc merges HTTP headers with headers carried inside RPC messages, and message headers win.
 * So the server hands the verified identity to the RPC layer under `header`, a name with a secret,
 * per-process random suffix no client can guess, and the RPC layer reads it from there only.
 */
import { Context, type Effect, type Option, Schema } from "effect"
import type { HttpServerRequest } from "effect/http"

export const PeerCertificate = Schema.Struct({
  commonName: Schema.String,
  organizations: Schema.Array(Schema.String),
  serial: Schema.String,
  notAfterMillis: Schema.Number
})
export type PeerCertificate = typeof PeerCertificate.Type

export class TlsPeer extends Context.Service<TlsPeer, {
  /** The verified client certificate of the connection the request came on, if any. */
  readonly identify: (request: HttpServerRequest.HttpServerRequest) => Effect.Effect<Option.Option<PeerCertificate>>
  /** Where the verified identity travels inside the server (see the module comment). */
  readonly header: string
}>()("@keelos/platform/TlsPeer") {}
