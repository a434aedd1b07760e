/**
 * The agent wired from its configuration: the mutual-TLS server, the node API handlers and their
 * authorization, the audit log, the metrics server, init's control socket and the boot
 * environment, all real.
 */
import { type Deferred, Effect, Layer, Schema } from "effect"
import { Audit, Authorization, Bootstrap, Handlers, InitClient, MetricsServer, NodeCertificate, NodeFacts, NodeIdentity, Server } from "@keelos/agent"
import { BootControl } from "@keelos/boot"
import * as NodeBootEnvBlock from "@keelos/platform-node/NodeBootEnvBlock"
import * as NodeHttpListener from "@keelos/platform-node/NodeHttpListener"
import * as NodeKernelLog from "@keelos/platform-node/NodeKernelLog"
import * as NodeLinks from "@keelos/platform-node/NodeLinks"
import { NodeServices, NodeSocket } from "@keelos/platform-node/NodeMain"
import * as NodeMtlsServer from "@keelos/platform-node/NodeMtlsServer"
import * as NodeTlsServer from "@keelos/platform-node/NodeTlsServer"
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
    if (NodeCertificate.summarize(pem.cert) === undefined) {
      return yield* new NodeCertificateError({ reason: "the node certificate is not a PEM certificate" })
    }
    // Layers are built once however many times they are provided: one TLS server, one connection to
    // init, one reader of the node's facts, shared by the API and the metrics.
    const server = NodeMtlsServer.layer({ ...pem, host: config.listen.host, port: config.listen.port })
    const initClient = InitClient.InitClient.layer.pipe(Layer.provide(NodeSocket.layerNet({ path: config.initSocket })))
    const certificate = NodeCertificate.NodeCertificate.layer(config.tls, pem).pipe(Layer.provide(server))
    const facts = NodeFacts.NodeFacts.layer.pipe(
      Layer.provide(certificate),
      Layer.provide(BootControl.BootControl.layer.pipe(Layer.provide(NodeBootEnvBlock.layer(config.envBlock)))),
      Layer.provide(Layer.succeed(NodeIdentity.NodeIdentity)({ version }))
    )
    const api = Server.layer.pipe(
      Layer.provide([Handlers.layer, Authorization.layer]),
      Layer.provide([Audit.Audit.layer(config.audit), facts, certificate, NodeKernelLog.layer(), NodeLinks.layer]),
      Layer.provideMerge(server)
    )
    const metrics = config.metrics === undefined
      ? Layer.empty
      : MetricsServer.layer.pipe(Layer.provide(facts), Layer.provide(NodeHttpListener.layer(config.metrics)))
    return Layer.merge(api, metrics).pipe(Layer.provide(initClient), Layer.provide(NodeServices.layer))
  }))

/** First-trust mode: BootstrapApi over TLS with the node's self-signed certificate, until `done`. */
export const bootstrapLayer = (config: AgentConfig, identity: Bootstrap.Identity, done: Deferred.Deferred<void>) =>
  Bootstrap.serverLayer.pipe(
    Layer.provide(Bootstrap.handlers(identity, { ...config.tls, tokenFile: config.bootstrap!.tokenFile }, done)),
    Layer.provide(Audit.Audit.layer(config.audit)),
    Layer.provideMerge(NodeTlsServer.layer({ cert: identity.cert, key: identity.key, host: config.listen.host, port: config.listen.port })),
    Layer.provide(NodeServices.layer)
  )
