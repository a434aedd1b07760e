/**
 * The agent wired from its configuration: the mutual-TLS server, the node API handlers and their
 * authorization, the audit log, init's control socket and the boot environment, all real.
 */
import { Effect, Layer } from "effect"
import { Audit, Authorization, Handlers, InitClient, NodeIdentity, Server } from "@keelos/agent"
import { BootControl } from "@keelos/boot"
import { Pki } from "@keelos/pki"
import { NodeBootEnvBlock, NodeMtlsServer, NodeServices, NodeSocket } from "@keelos/platform-node"
import type { AgentConfig } from "./AgentConfig.ts"

export const version = "0.1.0"

export interface Pem {
  readonly ca: string
  readonly cert: string
  readonly key: string
}

export const layer = (config: AgentConfig, pem: Pem) =>
  Layer.unwrap(Effect.gen(function*() {
    const certificate = yield* Pki.inspect(pem.cert)
    const api = Server.layer.pipe(
      Layer.provide([Handlers.layer, Authorization.layer]),
      Layer.provide(Audit.Audit.layer(config.audit)),
      Layer.provide(InitClient.InitClient.layer.pipe(Layer.provide(NodeSocket.layerNet({ path: config.initSocket })))),
      Layer.provide(BootControl.BootControl.layer.pipe(Layer.provide(NodeBootEnvBlock.layer(config.envBlock)))),
      Layer.provide(Layer.succeed(NodeIdentity.NodeIdentity)({ version, certificate }))
    )
    return api.pipe(
      Layer.provideMerge(NodeMtlsServer.layer({ ...pem, host: config.listen.host, port: config.listen.port })),
      Layer.provide(NodeServices.layer)
    )
  }))
