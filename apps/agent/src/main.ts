#!/usr/bin/env node
/**
 * keel-agent, the composition root of the node API: `keel-agent [CONFIG]` (default
 * /etc/keel/agent.json). Until the node's PKI is on the data partition it says what is missing
 * and waits for it (init would only restart it into the same state).
 */
import { Console, Context, Effect, FileSystem, Layer, Schedule } from "effect"
import { HttpServer } from "effect/http"
import * as NodeConfigFile from "@keelos/platform-node/NodeConfigFile"
import * as NodeMain from "@keelos/platform-node/NodeMain"
import { NodeRuntime, NodeServices } from "@keelos/platform-node/NodeMain"
import { NodeCertificate } from "@keelos/agent"
import * as Agent from "./Agent.ts"
import { AgentConfig, configPath } from "./AgentConfig.ts"

const configFile = process.argv[2] ?? configPath

const readPem = (config: AgentConfig) =>
  Effect.gen(function*() {
    if (yield* NodeCertificate.recover(config.tls)) yield* Console.log("keel-agent: completed a certificate rotation a crash had interrupted")
    const fs = yield* FileSystem.FileSystem
    const read = (file: string) => Effect.mapError(fs.readFileString(file), () => file)
    return { ca: yield* read(config.tls.caFile), cert: yield* read(config.tls.certFile), key: yield* read(config.tls.keyFile) }
  })

const waitForPem = (config: AgentConfig) =>
  readPem(config).pipe(
    Effect.tapError((missing) => Console.error(`keel-agent: cannot read ${missing}; waiting for the node's PKI to be provisioned`)),
    Effect.retry(Schedule.spaced("5 seconds"))
  )

const main = Effect.gen(function*() {
  yield* Console.log(`keel-agent ${Agent.version} starting`)
  const config = yield* NodeConfigFile.load(AgentConfig, configFile)
  const pem = yield* waitForPem(config)
  yield* Layer.launch(Layer.tap(Agent.layer(config, pem), (context) => {
    const address = Context.get(context, HttpServer.HttpServer).address
    const where = address._tag === "UnixPathAddress" ? address.path : `${config.listen.host}:${address.port}`
    return Effect.andThen(Console.log(`keel-agent ${Agent.version} serving the node API on ${where}`), NodeMain.flushCompileCache)
  }))
}).pipe(
  Effect.catch((error) =>
    Effect.andThen(
      Console.error(`keel-agent: ${error instanceof Error ? error.message : String(error)}`),
      Effect.sync(() => void (process.exitCode = 2))
    )
  ),
  Effect.provide(NodeServices.layer)
)

NodeRuntime.runMain(main, { disableErrorReporting: true })
