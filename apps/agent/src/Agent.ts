/**
 * The agent wired from its configuration: the mutual-TLS server, the node API handlers and their
 * authorization, the audit log, the metrics server, init's control socket and the boot
 * environment, all real.
 */
import { X509Certificate } from "node:crypto"
import { Effect, Layer, Schema } from "effect"
import { Audit, Authorization, Handlers, InitClient, MetricsServer, NodeFacts, NodeIdentity, Server } from "@keelos/agent"
import { BootControl } from "@keelos/boot"
import * as NodeBootEnvBlock from "@keelos/platform-node/NodeBootEnvBlock"
import * as NodeHttpListener from "@keelos/platform-node/NodeHttpListener"
import { NodeServices, NodeSocket } from "@keelos/platform-node/NodeMain"
import * as NodeMtlsServer from "@keelos/platform-node/NodeMtlsServer"
import type { AgentConfig } from "./AgentConfig.ts"

export const version = "0.1.0"

export class NodeCertificateError extends Schema.TaggedError<NodeCertificateError>()("NodeCertificateError", { reason: Schema.String }) {
  override get message(): string {
    return this.reason
  }
}

export interface Pem {
  readonly ca: string
  readonly cert: string
  readonly key: string
}

export const layer = (config: AgentConfig, pem: Pem) =>
  Layer.unwrap(Effect.gen(function*() {
    // node:crypto reads the certificate: the X.509 library stays out of the agent (it starts faster).
    const certificate = yield* Effect.try({
      try: () => {
        const parsed = new X509Certificate(pem.cert)
        return { commonName: /(?:^|\n)CN=([^\n]*)/.exec(parsed.subject)?.[1] ?? "", notAfterMillis: Date.parse(parsed.validTo) }
      },
      catch: () => new NodeCertificateError({ reason: "the node certificate is not a PEM certificate" })
    })
    // One connection to init, one reader of the node's facts, shared by the API and the metrics.
    const initClient = InitClient.InitClient.layer.pipe(Layer.provide(NodeSocket.layerNet({ path: config.initSocket })))
    const facts = NodeFacts.NodeFacts.layer.pipe(
      Layer.provide(BootControl.BootControl.layer.pipe(Layer.provide(NodeBootEnvBlock.layer(config.envBlock)))),
      Layer.provide(Layer.succeed(NodeIdentity.NodeIdentity)({ version, certificate }))
    )
    const api = Server.layer.pipe(
      Layer.provide([Handlers.layer, Authorization.layer]),
      Layer.provide([Audit.Audit.layer(config.audit), facts]),
      Layer.provideMerge(NodeMtlsServer.layer({ ...pem, host: config.listen.host, port: config.listen.port }))
    )
    const metrics = config.metrics === undefined
      ? Layer.empty
      : MetricsServer.layer.pipe(Layer.provide(facts), Layer.provide(NodeHttpListener.layer(config.metrics)))
    return Layer.merge(api, metrics).pipe(Layer.provide(initClient), Layer.provide(NodeServices.layer))
  }))
