/**
 * The HTTP client of a node's programs: node:http and node:https (not undici, which costs PID 1
 * and the agent 1.2 MB of code at start), with the system's trust store for https.
 */
import * as NodeHttpClient from "@effect/platform-node/NodeHttpClient"

export const layer = NodeHttpClient.layerNodeHttp
