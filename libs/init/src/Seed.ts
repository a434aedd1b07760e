/**
 * First-boot provisioning from a NoCloud seed (SeedSource: a CIDATA volume, or `ds=nocloud` on the
 * kernel command line). Its documents are read (NoCloud), every warning is logged, and the node's
 * PKI or bootstrap token, its network, its update channel and its hostname are written to the
 * data partition where the agent and early boot read them. Per instance, like cloud-init: a seed whose
 * instance-id was applied already is left alone, so a seed left attached changes nothing on reboot.
 */
import { Console, Effect, FileSystem, Option, type Path, type Scope } from "effect"
import { NoCloud } from "@keelos/provision"
import { AtomicFile } from "@keelos/store"
import { NodeFiles } from "@keelos/domain"
import * as SeedSource from "./SeedSource.ts"

export const mountPoint = SeedSource.mountPoint

const log = (line: string) => Console.log(`keel-init: seed: ${line}`)

export type Outcome = "none" | "applied" | "already applied" | "failed"

const encode = (text: string) => new TextEncoder().encode(text)

const write = (config: NoCloud.MachineConfig) =>
  Effect.gen(function*() {
    const fs = yield* FileSystem.FileSystem
    yield* fs.makeDirectory(NodeFiles.pkiDir, { recursive: true, mode: 0o700 })
    yield* fs.makeDirectory(NodeFiles.configDir, { recursive: true })
    if (config.pki !== null) {
      yield* AtomicFile.write(NodeFiles.keyFile, encode(config.pki.key))
      yield* AtomicFile.write(NodeFiles.certFile, encode(config.pki.cert))
      yield* AtomicFile.write(NodeFiles.caFile, encode(config.pki.ca))
    } else if (config.bootstrapToken !== null) {
      yield* AtomicFile.write(NodeFiles.bootstrapTokenFile, encode(`${config.bootstrapToken}\n`))
    }
    const interfaces = config.network.interfaces.filter((i) =>
      i.dhcp4 || i.slaac !== undefined || i.addresses.length > 0 || i.gateway !== undefined || i.gateway6 !== undefined || i.mtu !== undefined
    )
    const { vlans, bonds } = config.network
    if (config.machineNetwork !== null) {
      yield* AtomicFile.write(NodeFiles.networkFile, encode(`${JSON.stringify(config.machineNetwork, null, 2)}\n`))
    } else if (interfaces.length > 0 || vlans.length > 0 || bonds.length > 0) {
      const nameservers = [...new Set(config.network.interfaces.flatMap((i) => i.nameservers))]
      const network = {
        ...(bonds.length > 0 ? { bonds } : {}),
        ...(vlans.length > 0 ? { vlans } : {}),
        interfaces: interfaces.map((i) => ({
          name: i.name,
          ...(i.dhcp4 ? { dhcp4: true } : {}),
          ...(i.slaac === undefined ? {} : { slaac: i.slaac }),
          addresses: i.addresses,
          ...(i.gateway === undefined ? {} : { gateway: i.gateway }),
          ...(i.gateway6 === undefined ? {} : { gateway6: i.gateway6 }),
          ...(i.mtu === undefined ? {} : { mtu: i.mtu })
        })),
        ...(nameservers.length > 0 ? { nameservers } : {})
      }
      yield* AtomicFile.write(NodeFiles.networkFile, encode(`${JSON.stringify(network, null, 2)}\n`))
    }
    if (config.update !== null) yield* AtomicFile.write(NodeFiles.updateWatchFile, encode(`${JSON.stringify(config.update, null, 2)}\n`))
    if (config.hostname !== null) yield* AtomicFile.write(NodeFiles.hostnameFile, encode(`${config.hostname}\n`))
    // Last: its presence says the seed is applied.
    yield* AtomicFile.write(NodeFiles.instanceFile, encode(`${config.instanceId}\n`))
  })

/** Finds, reads and applies a seed; never fails the boot (a bad seed is logged with its reason). */
export const apply: Effect.Effect<Outcome, never, Exclude<SeedSource.Requirements, Scope.Scope> | Path.Path> = Effect.scoped(Effect.gen(function*() {
  const fs = yield* FileSystem.FileSystem
  const previous = yield* fs.readFileString(NodeFiles.instanceFile).pipe(Effect.map((t) => t.trim()), Effect.orElseSucceed(() => ""))
  const volume = yield* SeedSource.fromVolume
  const found = Option.isSome(volume) ? volume : yield* SeedSource.fromCommandLine(previous)
  if (Option.isNone(found)) return "none" as const
  const documents: SeedSource.Documents = found.value
  const parsed = yield* NoCloud.parseSeed(documents)
  for (const warning of parsed.warnings) yield* log(`warning: ${warning}`)
  const config: NoCloud.MachineConfig = {
    ...parsed.config,
    instanceId: documents.overrides?.instanceId ?? parsed.config.instanceId,
    hostname: documents.overrides?.hostname ?? parsed.config.hostname
  }
  if (previous === config.instanceId) {
    yield* log(`instance ${config.instanceId} from ${documents.from} is applied already`)
    return "already applied" as const
  }
  yield* write(config)
  const credentials = config.pki !== null ? "node PKI" : config.bootstrapToken !== null ? "bootstrap token" : "no credentials"
  const interfaces = (config.machineNetwork ?? config.network).interfaces.length
  const update = config.update === null ? "" : `, update channel ${config.update.source} (${config.update.mode})`
  yield* log(`applied instance ${config.instanceId} from ${documents.from}: ${credentials}, ${interfaces} interface(s)${update}${config.hostname === null ? "" : `, hostname ${config.hostname}`}`)
  return "applied" as const
})).pipe(Effect.catch((error: { readonly message: string }) => Effect.as(log(error.message), "failed" as const)))
