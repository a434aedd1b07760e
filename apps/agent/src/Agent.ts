/**
 * The agent wired from its configuration: the mutual-TLS server, the node API handlers and their
 * authorization, the audit log, the metrics server, init's control socket, the boot environment
 * and the update engine (which, at start, finishes what the last boot left: a trial to verify, a
 * firmware rollback to record) with its scheduler of maintenance windows, all real.
 */
import { type Context, type Deferred, Effect, FileSystem, Layer, type Path, Schema } from "effect"
import type { HttpClient } from "effect/http"
import { Audit, Authorization, Bootstrap, Handlers, HealthChecks, InitClient, MetricsServer, NodeCertificate, NodeFacts, NodeIdentity, Server, UpdateChecks } from "@keelos/agent"
import { BootControl } from "@keelos/boot"
import { NodeFiles, type Version } from "@keelos/domain"
import { Signing } from "@keelos/release"
import { ChannelWatch, Hooks, RegistrySource, UpdateEngine, UpdateError, UpdateScheduler } from "@keelos/update"
import type { Links, Sockets } from "@keelos/platform"
import * as NodeBlockDevices from "@keelos/platform-node/NodeBlockDevices"
import * as NodeDiskSpace from "@keelos/platform-node/NodeDiskSpace"
import * as NodeHttp from "@keelos/platform-node/NodeHttp"
import * as NodeMemory from "@keelos/platform-node/NodeMemory"
import * as NodeSockets from "@keelos/platform-node/NodeSockets"
import * as NodeBootEnvBlock from "@keelos/platform-node/NodeBootEnvBlock"
import * as NodeHttpListener from "@keelos/platform-node/NodeHttpListener"
import * as NodeKernelLog from "@keelos/platform-node/NodeKernelLog"
import * as NodeLinks from "@keelos/platform-node/NodeLinks"
import { NodeDaemonServices, NodeSocket } from "@keelos/platform-node/NodeMain"
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
    const running = yield* runningVersion(config)
    const bootControl = BootControl.BootControl.layer.pipe(Layer.provide(NodeBootEnvBlock.layer(config.envBlock)))
    const facts = NodeFacts.NodeFacts.layer.pipe(
      Layer.provide(certificate),
      Layer.provide(bootControl),
      Layer.provide(Layer.succeed(NodeIdentity.NodeIdentity)({ version: running }))
    )
    const update = config.update === undefined ? Layer.empty : updateLayer(config.update, running).pipe(Layer.provide(bootControl), Layer.provide(initClient))
    const api = Server.layer.pipe(
      Layer.provide([Handlers.layer, Authorization.layer]),
      Layer.provide([Audit.Audit.layer(config.audit), facts, certificate, NodeKernelLog.layer(), NodeLinks.layer, update]),
      Layer.provideMerge(server)
    )
    const metrics = config.metrics === undefined
      ? Layer.empty
      : MetricsServer.layer.pipe(Layer.provide([facts, update]), Layer.provide(NodeHttpListener.layer(config.metrics)))
    return Layer.merge(api, metrics).pipe(Layer.provide(initClient), Layer.provide(NodeDaemonServices.layer))
  }))

type UpdateConfig = NonNullable<AgentConfig["update"]>

/** VERSION_ID from the image's os-release, else the agent's own version (host tests). */
const runningVersion = (config: AgentConfig) =>
  Effect.gen(function*() {
    if (config.update === undefined) return version
    const fs = yield* FileSystem.FileSystem
    const text = yield* Effect.orElseSucceed(fs.readFileString(config.update.osRelease), () => "")
    const id = /^VERSION_ID="?([^"\n]+)"?$/m.exec(text)?.[1]
    return id !== undefined && /^\d+\.\d+\.\d+(-[0-9A-Za-z.-]+)?$/.test(id) ? id : version
  }).pipe(Effect.provide(NodeDaemonServices.layer))

const decodeKeys = Schema.decodeUnknownEffect(Schema.fromJsonString(Schema.Array(Schema.Struct({ id: Schema.String, development: Schema.Boolean, publicKey: Schema.String }))))

const decodeCredentials = Schema.decodeUnknownEffect(Schema.fromJsonString(Schema.Record(Schema.String, Schema.Struct({ username: Schema.String, password: Schema.String }))))

/** Registry credentials from the operator's file, read at each install (absent file: anonymous). */
const registryAccess = (config: UpdateConfig, services: Context.Context<FileSystem.FileSystem>): RegistrySource.Access => {
  const registries = config.registries
  if (registries === undefined) return RegistrySource.anonymous
  return {
    allowUnsigned: registries.allowUnsigned,
    credentials: (registry) =>
      Effect.gen(function*() {
        const fs = yield* FileSystem.FileSystem
        if (!(yield* Effect.orElseSucceed(fs.exists(registries.credentialsFile), () => false))) return null
        const all = yield* Effect.flatMap(fs.readFileString(registries.credentialsFile), decodeCredentials)
        return all[registry] ?? null
      }).pipe(
        Effect.tapError((error) => Effect.logWarning(`${registries.credentialsFile}: ${error.message}; pulling from ${registry} anonymously`)),
        Effect.orElseSucceed(() => null),
        Effect.provideContext(services)
      )
  }
}

/** The system's CAs, plus the operator's registry CA when that file exists. */
const decodeWatch = Schema.decodeUnknownEffect(Schema.fromJsonString(ChannelWatch.WatchConfig))

/** The channel watch a seed gave this node (keelos.update); undefined when there is none or it cannot be read (said in the log). */
const readSeededWatch = Effect.gen(function*() {
  const fs = yield* FileSystem.FileSystem
  const text = yield* fs.readFileString(NodeFiles.updateWatchFile).pipe(Effect.option)
  if (text._tag === "None") return undefined
  return yield* decodeWatch(text.value).pipe(
    Effect.tapError((error) => Effect.logError(`${NodeFiles.updateWatchFile}: ${error.message}; the image's channel watch applies`)),
    Effect.orElseSucceed(() => undefined)
  )
})

const httpLayer = (config: UpdateConfig) =>
  Layer.unwrap(Effect.gen(function*() {
    const caFile = config.registries?.caFile
    if (caFile === undefined) return NodeHttp.layer
    const fs = yield* FileSystem.FileSystem
    const pem = yield* Effect.orElseSucceed(fs.readFileString(caFile), () => null)
    return pem === null ? NodeHttp.layer : NodeHttp.layerTrusting(pem)
  })).pipe(Layer.provide(NodeDaemonServices.layer))

/**
 * The update engine with the node's checks, and a fiber that reconciles at start: it runs the
 * health gate on a trial boot (which may take minutes) while the API already serves.
 */
const updateLayer = (config: UpdateConfig, running: string) =>
  Layer.unwrap(Effect.gen(function*() {
    const init = yield* InitClient.InitClient
    const services = yield* Effect.context<FileSystem.FileSystem | Path.Path | HttpClient.HttpClient | Sockets.Sockets | Links.Links>()
    const checks = HealthChecks.make(init, { probeDir: config.stateDir, http: config.checks }).pipe(Effect.provideContext(services))
    const trustedKeys = Effect.flatMap(FileSystem.FileSystem, (fs) => fs.readFileString(config.trustedKeysFile)).pipe(
      Effect.flatMap(decodeKeys),
      Effect.map((keys): ReadonlyArray<Signing.TrustedKey> => keys),
      Effect.tapError((error) => Effect.logWarning(`${config.trustedKeysFile}: ${error.message}; this node trusts no release key`)),
      Effect.orElseSucceed(() => []),
      Effect.provideContext(services)
    )
    const hooks = config.hooks === undefined ? undefined : yield* Hooks.make(config.hooks).pipe(Effect.provide(NodeDaemonServices.layer))
    const engine = UpdateEngine.layer({
      ...(hooks === undefined ? {} : { hooks }),
      registries: registryAccess(config, services),
      paths: { state: `${config.stateDir}/state.json`, history: `${config.stateDir}/history.json` },
      runningVersion: running as Version.Version,
      arch: config.arch,
      trustedKeys,
      health: config.health,
      checks,
      reboot: (reason) =>
        Effect.asVoid(init.Power({ action: "reboot", reason })).pipe(Effect.mapError((error) => UpdateError.make("activate", "Io", `init control socket: ${error.message}`))),
      writer: { reclaim: NodeMemory.reclaim },
      deltaParallelBlocks: 4
    }).pipe(
      Layer.provide(config.slotFiles === undefined ? NodeBlockDevices.layer : NodeBlockDevices.layerFromPaths({ KEELOS_ROOT_A: config.slotFiles.A, KEELOS_ROOT_B: config.slotFiles.B }))
    )
    const reconcile = Layer.effectDiscard(Effect.gen(function*() {
      const e = yield* UpdateEngine
      yield* e.reconcile.pipe(
        Effect.tap((outcome) => outcome._tag === "Nothing" ? Effect.void : Effect.log(`update engine: ${JSON.stringify(outcome)}`)),
        Effect.catch((error) => Effect.logError(`update engine: ${error.message}`)),
        Effect.forkScoped
      )
    }))
    const scheduler = UpdateScheduler.layer(`${config.stateDir}/schedule.json`)
    const scheduling = Layer.effectDiscard(Effect.flatMap(UpdateScheduler, (s) => Effect.forkScoped(s.run)))
    // The seed's channel (keelos.update) wins over the image's: the image is the same on every node.
    const seeded = yield* readSeededWatch
    const watch = seeded ?? config.watch ?? { mode: "off", source: "", intervalMillis: 21_600_000, jitterMillis: 0, window: null }
    const problem = ChannelWatch.invalid(watch)
    if (problem !== null) yield* Effect.logError(`${seeded === undefined ? "update.watch" : NodeFiles.updateWatchFile}: ${problem}; the channel watch is off`)
    const watching = ChannelWatch.ChannelWatch.layer(problem === null ? watch : { ...watch, mode: "off" }, `${config.stateDir}/check.json`)
    const watchLoop = Layer.effectDiscard(Effect.flatMap(ChannelWatch.ChannelWatch, (w) => Effect.forkScoped(w.run)))
    const schedules = Layer.mergeAll(scheduling, watchLoop.pipe(Layer.provideMerge(watching))).pipe(Layer.provideMerge(scheduler))
    return Layer.mergeAll(schedules, reconcile).pipe(
      Layer.provideMerge(engine),
      Layer.merge(UpdateChecks.UpdateChecks.layer(checks))
    )
  })).pipe(Layer.provide(Layer.mergeAll(NodeDaemonServices.layer, httpLayer(config), NodeSockets.layer, NodeLinks.layer, NodeDiskSpace.layer)))

/** First-trust mode: BootstrapApi over TLS with the node's self-signed certificate, until `done`. */
export const bootstrapLayer = (config: AgentConfig, identity: Bootstrap.Identity, done: Deferred.Deferred<void>) =>
  Bootstrap.serverLayer.pipe(
    Layer.provide(Bootstrap.handlers(identity, { ...config.tls, tokenFile: config.bootstrap!.tokenFile }, done)),
    Layer.provide(Audit.Audit.layer(config.audit)),
    Layer.provideMerge(NodeTlsServer.layer({ cert: identity.cert, key: identity.key, host: config.listen.host, port: config.listen.port })),
    Layer.provide(NodeDaemonServices.layer)
  )
