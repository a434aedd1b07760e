/**
 * NodeHttpServer.layer for a daemon's servers: the server with Effect's HTTP platform and ETags,
 * and NodeDaemonServices rather than Effect's NodeServices, whose Terminal opens process.stdin and
 * loads readline (the agent, started without a terminal, paid for it before serving).
 */
import { Layer } from "effect"
import * as Etag from "effect/http/Etag"
import * as NodeHttpPlatform from "@effect/platform-node/NodeHttpPlatform"
import * as NodeHttpServer from "@effect/platform-node/NodeHttpServer"
import * as NodeDaemonServices from "../NodeDaemonServices.ts"

export const layer = (...args: Parameters<typeof NodeHttpServer.layerServer>) =>
  Layer.mergeAll(NodeHttpServer.layerServer(...args), NodeHttpPlatform.layer, Etag.layerWeak, NodeDaemonServices.layer)
