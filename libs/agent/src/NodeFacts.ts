/**
 * What the node is right now, gathered from where each fact lives: the boot environment block,
 * init's control socket, the kernel (/proc), the boot count on the data partition and the agent's
 * own certificate (as rotated). GetStatus and the metrics both read it, so they never disagree.
 */
import { Clock, Context, Effect, FileSystem, Layer, Option, Path, Schema } from "effect"
import { type InitControl, NodeApi } from "@keelos/api"
import { BootControl } from "@keelos/boot"
import { BootCount, type BootEnv, NodeFiles, Slot } from "@keelos/domain"
import { JsonFile } from "@keelos/store"
import { InitClient, nodeFailure } from "./InitClient.ts"
import { NodeCertificate } from "./NodeCertificate.ts"
import { NodeIdentity } from "./NodeIdentity.ts"

const dayMillis = 24 * 3600_000

export interface Facts {
  readonly version: string
  readonly hostname: string
  readonly bootEnv: BootEnv.BootEnv
  readonly slots: ReadonlyArray<NodeApi.SlotStatus>
  readonly uptimeSeconds: number
  /** Null when the count on the data partition cannot be read. */
  readonly boots: number | null
  /** keel-init booted this slot in maintenance mode (only the agent runs): why, or null. */
  readonly maintenance: string | null
  readonly services: ReadonlyArray<InitControl.ServiceStatus>
  readonly certificate: { readonly commonName: string; readonly notAfterMillis: number; readonly daysLeft: number }
  readonly updateKeys: ReadonlyArray<{ readonly id: string; readonly development: boolean }>
}


const decodeKeys = Schema.decodeUnknownEffect(Schema.fromJsonString(Schema.Array(Schema.Struct({ id: Schema.String, development: Schema.Boolean }))))

export class NodeFacts extends Context.Service<NodeFacts, {
  readonly gather: (operation: string) => Effect.Effect<Facts, NodeApi.NodeFailure>
}>()("@keelos/agent/NodeFacts") {
  static readonly layer = Layer.effect(NodeFacts)(Effect.gen(function*() {
    const init = yield* InitClient
    const boot = yield* BootControl.BootControl
    const identity = yield* NodeIdentity
    const certificate = yield* NodeCertificate
    const fs = yield* FileSystem.FileSystem
    const path = yield* Path.Path
    const readTrimmed = (file: string) => fs.readFileString(file).pipe(Effect.map((text) => text.trim()), Effect.option)
    const bootCount = Effect.flatMap(JsonFile.make(BootCount.BootCount, BootCount.file, BootCount.initial), (store) => store.get).pipe(
      Effect.map((count): number | null => count.boots),
      Effect.orElseSucceed(() => null),
      Effect.provideService(FileSystem.FileSystem, fs),
      Effect.provideService(Path.Path, path)
    )
    return NodeFacts.of({
      gather: (operation) =>
        Effect.gen(function*() {
          const bootEnv = yield* Effect.mapError(boot.read, (error) => new NodeApi.NodeFailure({ operation, reason: `boot environment: ${error.message}` }))
          const services = yield* init.ListServices().pipe(nodeFailure(operation))
          const uptime = yield* readTrimmed("/proc/uptime")
          const hostname = yield* readTrimmed("/proc/sys/kernel/hostname")
          const now = yield* Clock.currentTimeMillis
          const own = yield* certificate.current
          return {
            version: identity.version,
            hostname: hostname._tag === "Some" ? hostname.value : "unknown",
            bootEnv,
            slots: Slot.slots.map((slot) => ({
              slot,
              role: slot === bootEnv.active ? "good" as const : slot === bootEnv.next ? "trial" as const : "inactive" as const,
              booted: slot === bootEnv.booted,
              version: slot === bootEnv.booted ? identity.version : null
            })),
            uptimeSeconds: uptime._tag === "Some" ? Number.parseFloat(uptime.value.split(" ")[0] ?? "0") : 0,
            boots: yield* bootCount,
            maintenance: Option.getOrNull(yield* readTrimmed(NodeFiles.maintenanceFlag)),
            services,
            certificate: { ...own, daysLeft: Math.floor((own.notAfterMillis - now) / dayMillis) },
            updateKeys: yield* fs.readFileString(NodeFiles.trustedKeysFile).pipe(
              Effect.flatMap(decodeKeys),
              Effect.map((keys) => keys.map(({ development, id }) => ({ id, development }))),
              Effect.orElseSucceed(() => [])
            )
          }
        })
    })
  }))
}
