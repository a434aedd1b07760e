/**
 * The HTTP client of a node's programs: node:http and node:https (not undici, which costs PID 1
 * and the agent 1.2 MB of code at start), with the system's trust store for https, and optionally
 * the operator's own CAs beside it (a private registry or update server).
 */
import * as tls from "node:tls"
import type { Layer } from "effect"
import type { HttpClient } from "effect/http"
import * as NodeHttpClient from "@effect/platform-node/NodeHttpClient"

export const layer = NodeHttpClient.layerNodeHttp

/** Trusts the system's CAs and `extraCaPem` (PEM, one or more certificates). */
export const layerTrusting = (extraCaPem: string): Layer.Layer<HttpClient.HttpClient> =>
  NodeHttpClient.layerNodeHttpOptions({ ca: [...tls.rootCertificates, extraCaPem] })
