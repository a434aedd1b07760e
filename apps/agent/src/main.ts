#!/usr/bin/env node
/**
 * keel-agent, the composition root of the node API: `keel-agent [CONFIG]` (default
 * /etc/keel/agent.json). With the node's PKI on the data partition it serves the node API over
 * mutual TLS. Without a CA but with a bootstrap token in the provisioning config it serves first
 * trust (BootstrapApi) until it is given one, then exits so init restarts it into the node API.
 * With neither it says what is missing and waits (init would only restart it into the same state).
 */
import { createPrivateKey, createPublicKey } from "node:crypto"
import * as path from "node:path"
import { Console, Context, Deferred, Effect, FileSystem, Layer, Schedule } from "effect"
import { HttpServer } from "effect/http"
import * as NodeConfigFile from "@keelos/platform-node/NodeConfigFile"
import * as NodeMain from "@keelos/platform-node/NodeMain"
import { NodeDaemonServices } from "@keelos/platform-node/NodeMain"
import { BootstrapApi } from "@keelos/api"
import { Bootstrap, NodeCertificate } from "@keelos/agent"
import * as Agent from "./Agent.ts"
import { AgentConfig, configPath } from "./AgentConfig.ts"

const readPem = (config: AgentConfig) =>
  Effect.gen(function*() {
    if (yield* NodeCertificate.recover(config.tls)) yield* Console.log("keel-agent: completed a certificate rotation a crash had interrupted")
    const fs = yield* FileSystem.FileSystem
    const read = (file: string) => Effect.mapError(fs.readFileString(file), () => file)
    return { ca: yield* read(config.tls.caFile), cert: yield* read(config.tls.certFile), key: yield* read(config.tls.keyFile) }
  })

const exists = (file: string) => Effect.flatMap(FileSystem.FileSystem, (fs) => Effect.orElseSucceed(fs.exists(file), () => false))

/** What this start does: serve the node API, serve first trust, or wait for provisioning. */
const mode = (config: AgentConfig) =>
  Effect.gen(function*() {
    if (yield* exists(config.tls.caFile)) return "serve" as const
    if (config.bootstrap !== undefined && (yield* exists(config.bootstrap.tokenFile))) return "bootstrap" as const
    return yield* Effect.fail(`no ${config.tls.caFile} and no bootstrap token${config.bootstrap === undefined ? "" : ` at ${config.bootstrap.tokenFile}`}`)
  })

const waitForMode = (config: AgentConfig) =>
  mode(config).pipe(
    Effect.tapError((missing) => Console.error(`keel-agent: ${missing}; waiting for the node to be provisioned`)),
    Effect.retry(Schedule.spaced("5 seconds"))
  )

/** The node's key (made once, kept on the data partition), a self-signed certificate for it, and the token. */
const bootstrapIdentity = (config: AgentConfig) =>
  Effect.gen(function*() {
    const fs = yield* FileSystem.FileSystem
    const token = (yield* Effect.mapError(fs.readFileString(config.bootstrap!.tokenFile), (e) => e.message)).trim()
    if (!BootstrapApi.isStrongToken(token)) return yield* Effect.fail(`${config.bootstrap!.tokenFile}: a bootstrap token is 32 to 128 lowercase hex digits`)
    // The X.509 code loads only on this path: a provisioned node never pays for it at start.
    const firstTrust = yield* Effect.promise(() => import("./firstTrust.ts"))
    const attempt = <A>(f: () => Promise<A>) => Effect.tryPromise({ try: f, catch: (e) => (e instanceof Error ? e.message : String(e)) })
    let key = yield* Effect.orElseSucceed(fs.readFileString(config.tls.keyFile), () => "")
    if (key === "") {
      key = (yield* attempt(firstTrust.generateKey)).key
      yield* Effect.mapError(fs.makeDirectory(path.dirname(config.tls.keyFile), { recursive: true, mode: 0o700 }), (e) => e.message)
      yield* Effect.mapError(fs.writeFileString(config.tls.keyFile, key, { mode: 0o600 }), (e) => e.message)
    }
    const publicKey = createPublicKey(createPrivateKey(key)).export({ type: "spki", format: "pem" }).toString()
    const cert = yield* attempt(() => firstTrust.selfSigned({ key, publicKey }, "keelos-bootstrap", 30))
    return { token, key, publicKey, cert }
  })

const bootstrap = (config: AgentConfig) =>
  Effect.gen(function*() {
    const identity = yield* bootstrapIdentity(config)
    const done = yield* Deferred.make<void>()
    yield* Effect.scoped(Effect.gen(function*() {
      yield* Layer.build(Agent.bootstrapLayer(config, identity, done))
      yield* Console.log(`keel-agent ${Agent.version} waiting for first trust on ${config.listen.host}:${config.listen.port}; certificate sha256 ${Bootstrap.certificateSha256(identity.cert)}`)
      yield* Deferred.await(done)
      // Let the answer reach the client before the server goes.
      yield* Effect.sleep("1 second")
    }))
    yield* Console.log("keel-agent: bootstrapped; restarting into the node API")
  })

const seconds = (millis: number) => `${(millis / 1000).toFixed(2)} s`

const main = (configFile: string) => Effect.gen(function*() {
  const loaded = yield* NodeMain.startTimes
  yield* Console.log(`keel-agent ${Agent.version} starting`)
  const config = yield* NodeConfigFile.load(AgentConfig, configFile)
  if ((yield* waitForMode(config)) === "bootstrap") return yield* bootstrap(config)
  const pem = yield* readPem(config)
  yield* Layer.launch(Layer.tap(Agent.layer(config, pem), (context) => {
    const address = Context.get(context, HttpServer.HttpServer).address
    const where = address._tag === "UnixPathAddress" ? address.path : `${config.listen.host}:${address.port}`
    return NodeMain.startTimes.pipe(
      Effect.flatMap((serving) =>
        Console.log(
          `keel-agent ${Agent.version} serving the node API on ${where}; started in ${seconds(serving.nowMillis)}: ` +
            `Node ${seconds(loaded.nodeMillis)}, modules ${seconds(loaded.nowMillis - loaded.nodeMillis)}, setup ${seconds(serving.nowMillis - loaded.nowMillis)}`
        )
      )
    )
  }))
}).pipe(
  Effect.catch((error) =>
    Effect.andThen(
      Console.error(`keel-agent: ${error instanceof Error ? error.message : String(error)}`),
      Effect.sync(() => void (process.exitCode = 2))
    )
  ),
  Effect.provide(NodeDaemonServices.layer)
)

NodeMain.runProgram((args) => main(args[0] ?? configPath), { disableErrorReporting: true })
