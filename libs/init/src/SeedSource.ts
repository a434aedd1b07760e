/**
 * Where a NoCloud seed's documents come from, in cloud-init's order: a volume labelled CIDATA (FAT
 * or ISO 9660) mounted read-only for the moment; else `ds=nocloud` on the kernel command line,
 * with the meta-data inline (`i=`, `h=`) or the documents at `s=`: a directory (file://) or a web
 * address (http://, https://) fetched over a DHCP lease taken for the moment (EphemeralDhcp).
 */
import { Console, Effect, FileSystem, Option, Schema, type Scope } from "effect"
import { HttpClient, HttpClientRequest } from "effect/http"
import { EphemeralDhcp } from "@keelos/network"
import { type DhcpSockets, Kernel, type Links, Mounts, Volumes } from "@keelos/platform"
import { FatImage, IsoVolume, NoCloud } from "@keelos/provision"

export const mountPoint = "/run/keel/seed"

export interface Documents {
  readonly metaData: string
  readonly networkConfig?: string
  readonly userData?: string
  /** Where they came from, for the console: `/dev/vdb (vfat)`, `http://…`, `the kernel command line`. */
  readonly from: string
  /** Meta-data given on the kernel command line, which wins over the documents' (cloud-init's rule). */
  readonly overrides?: { readonly instanceId?: string; readonly hostname?: string }
}

export class SeedError extends Schema.TaggedError<SeedError>()("SeedError", { from: Schema.String, reason: Schema.String }) {
  override get message(): string {
    return `${this.from}: ${this.reason}`
  }
}

const log = (line: string) => Console.log(`keel-init: seed: ${line}`)

/** The most a seed document may weigh: certificates and a network config fit many times over. */
const maxDocumentBytes = 1 << 20

const readDirectory = (dir: string, from: string) =>
  Effect.gen(function*() {
    const fs = yield* FileSystem.FileSystem
    const read = (name: string) => fs.readFileString(`${dir}/${name}`).pipe(Effect.option)
    const metaData = yield* read("meta-data")
    if (Option.isNone(metaData)) return yield* new SeedError({ from, reason: "no meta-data" })
    const networkConfig = yield* read("network-config")
    const userData = yield* read("user-data")
    return {
      metaData: metaData.value,
      ...(Option.isSome(networkConfig) ? { networkConfig: networkConfig.value } : {}),
      ...(Option.isSome(userData) ? { userData: userData.value } : {}),
      from
    } satisfies Documents
  })

/** The CIDATA volume's documents, or none; the volume is mounted until the scope closes. */
export const fromVolume = Effect.gen(function*() {
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
  if (Option.isNone(found)) return Option.none<Documents>()
  const mounts = yield* Mounts.Mounts
  const fs = yield* FileSystem.FileSystem
  yield* Effect.ignore(fs.makeDirectory(mountPoint, { recursive: true }))
  yield* Effect.acquireRelease(
    mounts.mount({ source: found.value, target: mountPoint, fstype, readOnly: true, flags: ["nosuid", "nodev", "noexec"] }),
    () => Effect.ignore(mounts.unmount(mountPoint))
  )
  return Option.some(yield* readDirectory(mountPoint, `${found.value} (${fstype})`))
})

/** GET one document; a 404 is an absent optional document. */
const fetchDocument = (client: HttpClient.HttpClient, url: string, required: boolean) =>
  Effect.gen(function*() {
    const response = yield* client.execute(HttpClientRequest.get(url)).pipe(Effect.timeout("30 seconds"))
    if (response.status === 404 && !required) return undefined
    if (response.status !== 200) return yield* new SeedError({ from: url, reason: `the server answered ${response.status}` })
    const text = yield* response.text
    if (text.length > maxDocumentBytes) return yield* new SeedError({ from: url, reason: `over ${maxDocumentBytes} bytes` })
    return text
  }).pipe(Effect.catchIf((e) => !(e instanceof SeedError), (e) => Effect.fail(new SeedError({ from: url, reason: String((e as { message?: string }).message ?? e) }))))

const fetchDocuments = (base: string) =>
  Effect.gen(function*() {
    const client = yield* HttpClient.HttpClient
    const url = (name: string) => `${base.endsWith("/") ? base : `${base}/`}${name}`
    const metaData = (yield* fetchDocument(client, url("meta-data"), true))!
    const networkConfig = yield* fetchDocument(client, url("network-config"), false)
    const userData = yield* fetchDocument(client, url("user-data"), false)
    return {
      metaData,
      ...(networkConfig === undefined ? {} : { networkConfig }),
      ...(userData === undefined ? {} : { userData }),
      from: base
    } satisfies Documents
  })

/**
 * The documents `ds=nocloud` names, or none without it. `appliedInstance` is the instance applied
 * on an earlier boot: a command line naming that one again fetches nothing.
 */
export const fromCommandLine = (appliedInstance: string) =>
  Effect.gen(function*() {
    const words = yield* Effect.flatMap(Kernel.Kernel, (kernel) => kernel.cmdline)
    const seed = yield* NoCloud.parseCommandLine(words)
    if (seed === undefined) return Option.none<Documents>()
    const overrides = {
      ...(seed.instanceId === undefined ? {} : { instanceId: seed.instanceId }),
      ...(seed.hostname === undefined ? {} : { hostname: seed.hostname })
    }
    if (seed.seedFrom === undefined || seed.instanceId === appliedInstance) {
      const metaData = `instance-id: ${JSON.stringify(seed.instanceId)}\n${seed.hostname === undefined ? "" : `local-hostname: ${JSON.stringify(seed.hostname)}\n`}`
      return Option.some<Documents>({ metaData, from: "the kernel command line", overrides })
    }
    if (seed.seedFrom.startsWith("file://")) {
      return Option.some({ ...(yield* readDirectory(seed.seedFrom.slice("file://".length), seed.seedFrom)), overrides })
    }
    yield* log(`fetching the seed from ${seed.seedFrom} over a DHCP lease`)
    const documents = yield* EphemeralDhcp.withLease({ waitMillis: 30_000, log: (line) => log(`dhcp: ${line}`) }, () => fetchDocuments(seed.seedFrom!))
    return Option.some({ ...documents, overrides })
  })

export type Requirements =
  | Volumes.Volumes
  | Mounts.Mounts
  | Kernel.Kernel
  | Links.Links
  | DhcpSockets.DhcpSockets
  | HttpClient.HttpClient
  | FileSystem.FileSystem
  | Scope.Scope
