/**
 * The HTTP client side of mutual TLS: trusts only the given CA and presents the given client
 * certificate, TLS 1.3 only. node:https rather than undici: its errors name the TLS alert (a
 * missing client certificate is ERR_SSL_TLSV13_ALERT_CERTIFICATE_REQUIRED), and osctl loads faster.
 */
import type { Layer } from "effect"
import type { HttpClient } from "effect/http"
import * as NodeHttpClient from "@effect/platform-node/NodeHttpClient"

export interface ClientTls {
  readonly ca: string
  readonly cert?: string
  readonly key?: string
  /** `ca` is the server's own (self-signed, pinned) certificate: skip the name check it cannot pass. */
  readonly pinned?: boolean
}

export const layer = (tls: ClientTls): Layer.Layer<HttpClient.HttpClient> =>
  NodeHttpClient.layerNodeHttpOptions({
    ca: tls.ca,
    minVersion: "TLSv1.3",
    ...(tls.cert === undefined ? {} : { cert: tls.cert }),
    ...(tls.key === undefined ? {} : { key: tls.key }),
    ...(tls.pinned === true ? { checkServerIdentity: () => undefined } : {})
  })
