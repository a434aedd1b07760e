/**
 * First-boot provisioning from a NoCloud seed: a FAT or ISO 9660 volume labelled CIDATA (either
 * case, as cloud-init takes it) on any block device (a second disk, a USB stick, a CD image). Its documents are read (NoCloud), every warning is logged, and the
 * node's PKI or bootstrap token, its network (static addresses and DHCP links) and its hostname are written to the data
 * partition where the agent and early boot read them. Per instance, like cloud-init: a seed whose
 * instance-id was applied already is left alone, so a seed left attached changes nothing on reboot.
 */
import { Console, Effect, FileSystem, Option, Path } from "effect"
import { Mounts, Volumes } from "@keelos/platform"
import { FatImage, IsoVolume, NoCloud } from "@keelos/provision"
import { AtomicFile } from "@keelos/store"
import { NodeFiles } from "@keelos/domain"

export const mountPoint = "/run/keel/seed"

const log = (line: string) => Console.log(`keel-init: seed: ${line}`)

export type Outcome = "none" | "applied" | "already applied" | "failed"

const encode = (text: string) => new TextEncoder().encode(text)

const readSeed = Effect.gen(function*() {
  const fs = yield* FileSystem.FileSystem
  const read = (name: string) => fs.readFileString(`${mountPoint}/${name}`).pipe(Effect.option)
  const metaData = yield* read("meta-data")
  if (Option.isNone(metaData)) return yield* Effect.fail({ message: "the CIDATA volume has no meta-data" })
  const networkConfig = yield* read("network-config")
  const userData = yield* read("user-data")
  return {
    metaData: metaData.value,
    ...(Option.isSome(networkConfig) ? { networkConfig: networkConfig.value } : {}),
    ...(Option.isSome(userData) ? { userData: userData.value } : {})
  }
})

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
    if (interfaces.length > 0 || vlans.length > 0 || bonds.length > 0) {
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
    if (config.hostname !== null) yield* AtomicFile.write(NodeFiles.hostnameFile, encode(`${config.hostname}\n`))
    // Last: its presence says the seed is applied.
    yield* AtomicFile.write(NodeFiles.instanceFile, encode(`${config.instanceId}\n`))
  })

/** Finds, reads and applies a seed; never fails the boot (a bad seed is logged with its reason). */
export const apply: Effect.Effect<Outcome, never, Volumes.Volumes | Mounts.Mounts | FileSystem.FileSystem | Path.Path> = Effect.gen(function*() {
  const volumes = yield* Volumes.Volumes
  const isSeed = (label: string | undefined) => label?.toUpperCase() === "CIDATA"
  // One read of the first 34 KiB per device covers both a FAT boot sector and the ISO volume descriptor.
  let fstype: "vfat" | "iso9660" = "vfat"
  const found = yield* volumes.find(IsoVolume.headBytes, (head) => {
    if (isSeed(FatImage.labelOf(head))) fstype = "vfat"
    else if (isSeed(IsoVolume.labelOf(head))) fstype = "iso9660"
    else return false
    return true
  })
  if (Option.isNone(found)) return "none" as const
  const mounts = yield* Mounts.Mounts
  const fs = yield* FileSystem.FileSystem
  yield* Effect.ignore(fs.makeDirectory(mountPoint, { recursive: true }))
  yield* mounts.mount({ source: found.value, target: mountPoint, fstype, readOnly: true, flags: ["nosuid", "nodev", "noexec"] })
  return yield* Effect.gen(function*() {
    const { config, warnings } = yield* Effect.flatMap(readSeed, NoCloud.parseSeed)
    for (const warning of warnings) yield* log(`warning: ${warning}`)
    const previous = yield* fs.readFileString(NodeFiles.instanceFile).pipe(Effect.map((t) => t.trim()), Effect.orElseSucceed(() => ""))
    if (previous === config.instanceId) {
      yield* log(`instance ${config.instanceId} from ${found.value} is applied already`)
      return "already applied" as const
    }
    yield* write(config)
    yield* log(`applied instance ${config.instanceId} from ${found.value} (${fstype}): ${config.pki !== null ? "node PKI" : config.bootstrapToken !== null ? "bootstrap token" : "no credentials"}, ${config.network.interfaces.length} interface(s)${config.hostname === null ? "" : `, hostname ${config.hostname}`}`)
    return "applied" as const
  }).pipe(Effect.ensuring(Effect.ignore(mounts.unmount(mountPoint))))
}).pipe(Effect.catch((error: { readonly message: string }) => Effect.as(log(error.message), "failed" as const)))
