/**
 * The certificate and key a TLS server presents, replaceable while it runs: new connections get the
 * new pair, connections already open keep theirs. Certificate rotation uses it so the agent never
 * restarts (and never drops its callers) to take a new certificate.
 */
import { Context, type Effect, Schema } from "effect"

export class TlsCredentialsError extends Schema.TaggedError<TlsCredentialsError>()("TlsCredentialsError", { reason: Schema.String }) {
  override get message(): string {
    return `TLS credentials: ${this.reason}`
  }
}

export class TlsCredentials extends Context.Service<TlsCredentials, {
  readonly replace: (pair: { readonly cert: string; readonly key: string }) => Effect.Effect<void, TlsCredentialsError>
}>()("@keelos/platform/TlsCredentials") {}
