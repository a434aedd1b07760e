/**
 * The HTTP client of a node's programs: node:http and node:https (not undici, which costs PID 1
 * and the agent 1.2 MB of code at start), with the system's trust store for https, and optionally
 * the operator's own CAs beside it (a private registry or update server).
 */
import * as tls from "node:tls"
import { Layer } from "effect"
import type { HttpClient } from "effect/http"
import * as NodeHttpClient from "@effect/platform-node/NodeHttpClient"
import type { HttpDownload } from "@keelos/platform"
import * as NodeHttpDownload from "./NodeHttpDownload.ts"

/** The HttpClient and, for images, the HttpDownload that reads into the caller's buffers. */
export const layer: Layer.Layer<HttpClient.HttpClient | HttpDownload.HttpDownload> = Layer.merge(NodeHttpClient.layerNodeHttp, NodeHttpDownload.layer)

/** Both trusting the system's CAs and `extraCaPem` (PEM, one or more certificates). */
export const layerTrusting = (extraCaPem: string): Layer.Layer<HttpClient.HttpClient | HttpDownload.HttpDownload> => {
  const ca = [...tls.rootCertificates, extraCaPem]
  return Layer.merge(NodeHttpClient.layerNodeHttpOptions({ ca }), NodeHttpDownload.layerWith({ ca }))
}
