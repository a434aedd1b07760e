/**
 * Early boot on a node (DESIGN §2), after stage 1 has mounted the slot's SquashFS as the root and
 * exec'd keel-init: the API filesystems (what stage 1 moved is kept), the kernel modules the image
 * lists, loopback, the hostname, and the data partition at /var/lib/keel.
 *
 * First boot creates the data filesystem only on the partition that carries the KEELOS_DATA label
 * (so never a whole disk: only partitions have labels) and only when it holds no filesystem at all
 * (every probed byte zero). Anything else that is not ext4 is refused with a clear message, never
 * formatted.
 *
 * Formatting survives a power cut: a marker written (and synced) into the partition's last MiB
 * before mkfs, which leaves that MiB out of the filesystem, and cleared after, says the partition
 * holds nothing but an interrupted format of ours, so the next boot formats it again.
 */
import { Cause, Clock, Console, Deferred, Effect, Fiber, FileSystem, Option, Schema } from "effect"
import { ChildProcess, ChildProcessSpawner } from "effect/process"
import { BootCount, NodeFiles, Slot } from "@keelos/domain"
import { JsonFile } from "@keelos/store"
import { NetworkConfig } from "@keelos/network"
import { BlockDevice, FilesystemSignature, Kernel, Links, Mounts } from "@keelos/platform"
import * as Seed from "./Seed.ts"
import * as StaticNetwork from "./StaticNetwork.ts"

export const EarlyBootConfig = Schema.Struct({
  hostname: Schema.String,
  modules: Schema.Array(Schema.String),
  /**
   * Modules only services need (softdog for the watchdog, overlay for containerd, br_netfilter for
   * kubelet), loaded after `modules` while the first services start: early boot does not wait for
   * them, the watchdog and every service but those in `notNeededBy` do (Report.serviceModules).
   */
  serviceModules: Schema.optional(Schema.Struct({ modules: Schema.Array(Schema.String), notNeededBy: Schema.Array(Schema.String) })),
  /**
   * Files the first services read as they start (keel-agent's startup snapshot), read into the page
   * cache on a worker thread while early boot goes on: the slot's SquashFS decompresses them there,
   * not in the service's start. Nothing waits for it; a failure is logged.
   */
  prefetch: Schema.optional(Schema.Array(Schema.String)),
  /** mkfs.ext4 in the image, for the first boot. */
  mkfs: Schema.String,
  /** The static network configuration on the data partition (default StaticNetwork.networkFile). */
  networkFile: Schema.optional(Schema.String),
  /** How long boot waits for the first DHCP lease on each DHCP link before starting services (default 10 s). */
  dhcpWaitMillis: Schema.optional(Schema.Int.check(Schema.isGreaterThanOrEqualTo(0)))
})
export type EarlyBootConfig = typeof EarlyBootConfig.Type

export class EarlyBootError extends Schema.TaggedError<EarlyBootError>()("EarlyBootError", {
  step: Schema.Literals(["mount", "data"]),
  reason: Schema.String
}) {
  override get message(): string {
    return `early boot, ${this.step}: ${this.reason}`
  }
}

/** The API filesystems, in mount order. */
export const apiFilesystems: ReadonlyArray<Mounts.MountRequest> = [
  { source: "proc", target: "/proc", fstype: "proc", flags: ["nosuid", "nodev", "noexec"] },
  { source: "sysfs", target: "/sys", fstype: "sysfs", flags: ["nosuid", "nodev", "noexec"] },
  { source: "devtmpfs", target: "/dev", fstype: "devtmpfs", flags: ["nosuid"], data: "mode=0755" },
  { source: "devpts", target: "/dev/pts", fstype: "devpts", flags: ["nosuid", "noexec"], data: "gid=5,mode=0620,ptmxmode=0666" },
  { source: "tmpfs", target: "/run", fstype: "tmpfs", flags: ["nosuid", "nodev"], data: "mode=0755" },
  { source: "tmpfs", target: "/tmp", fstype: "tmpfs", flags: ["nosuid", "nodev"], data: "mode=1777" },
  { source: "cgroup2", target: "/sys/fs/cgroup", fstype: "cgroup2", flags: ["nosuid", "nodev", "noexec"], data: "nsdelegate" }
]

export type DataOutcome = "mounted" | "formatted"

export interface Report {
  readonly mounted: ReadonlyArray<string>
  readonly modulesFailed: ReadonlyArray<string>
  readonly data: DataOutcome
  readonly esp: "mounted" | "failed"
  /** This boot's number (1 on the first boot), 0 when it could not be counted. */
  readonly boots: number
  readonly network: "not configured" | "configured" | "failed"
  /** The network configuration applied, for the DHCP client; undefined when none was. */
  readonly networkConfig: NetworkConfig.NetworkConfig | undefined
  /** Whether the machine config names the host (a DHCP server's host name then does not count). */
  readonly hostnameConfigured: boolean
  readonly seed: Seed.Outcome
  /** Done when the service modules are loaded or have failed (each failure logged); at once when there are none. */
  readonly serviceModules: Effect.Effect<void>
}

const log = (line: string) => Console.log(`keel-init: ${line}`)

/** Mounts what is not mounted yet; a mountpoint under /dev is created (devtmpfs is writable). */
const mountApiFilesystems = Effect.gen(function*() {
  const mounts = yield* Mounts.Mounts
  const fs = yield* FileSystem.FileSystem
  const present = new Set((yield* Effect.orElseSucceed(mounts.list, () => [])).map((m) => m.target))
  const mounted: Array<string> = []
  for (const request of apiFilesystems) {
    if (present.has(request.target)) continue
    if (request.target.startsWith("/dev/")) yield* Effect.ignore(fs.makeDirectory(request.target, { recursive: true }))
    yield* mounts.mount(request).pipe(Effect.mapError((e) => new EarlyBootError({ step: "mount", reason: e.message })))
    mounted.push(request.target)
  }
  return mounted
})

/** The last MiB of the data partition: outside the filesystem, home of the format-in-progress marker. */
const markerBytes = 1 << 20
const marker = new TextEncoder().encode("KEELOS-FORMAT-IN-PROGRESS\n")

const hasMarker = (tail: Uint8Array) => marker.every((byte, i) => tail[i] === byte)

const mountData = (config: EarlyBootConfig) =>
  Effect.scoped(Effect.gen(function*() {
    const devices = yield* BlockDevice.BlockDevices
    const mounts = yield* Mounts.Mounts
    const refuse = (reason: string) => new EarlyBootError({ step: "data", reason })
    const device = yield* devices.open("KEELOS_DATA").pipe(Effect.mapError((e) => refuse(`no data partition: ${e.message}`)))
    const io = (e: { readonly message: string }) => refuse(e.message)
    if (device.sizeBytes <= 2 * markerBytes) return yield* refuse(`the data partition is only ${device.sizeBytes} bytes`)
    const markerOffset = device.sizeBytes - markerBytes
    const head = yield* device.read(0, Math.min(FilesystemSignature.probeBytes, device.sizeBytes)).pipe(Effect.mapError(io))
    const interrupted = hasMarker(yield* device.read(markerOffset, marker.length).pipe(Effect.mapError(io)))
    const signature = FilesystemSignature.detect(head)
    let outcome: DataOutcome = "mounted"
    if (signature === "empty" || interrupted) {
      yield* log(interrupted
        ? `an earlier format of ${device.path} was interrupted; formatting it again`
        : `first boot: creating the data filesystem on ${device.path}`)
      yield* device.write(markerOffset, marker).pipe(Effect.mapError(io))
      yield* device.sync.pipe(Effect.mapError(io))
      const blocks = String(Math.floor(markerOffset / 4096))
      const code = yield* Effect.scoped(
        Effect.flatMap(ChildProcessSpawner.ChildProcessSpawner, (spawner) =>
          Effect.flatMap(spawner.spawn(ChildProcess.make(config.mkfs, ["-q", "-F", "-b", "4096", "-L", "KEELOS_DATA", device.path, blocks])), (h) => h.exitCode))
      ).pipe(Effect.mapError((e) => refuse(`${config.mkfs}: ${e.message}`)))
      if (code !== 0) return yield* refuse(`${config.mkfs} exited with ${code}`)
      yield* device.write(markerOffset, new Uint8Array(marker.length)).pipe(Effect.mapError(io))
      yield* device.sync.pipe(Effect.mapError(io))
      outcome = "formatted"
    } else if (signature !== "ext") {
      return yield* refuse(
        `the KEELOS_DATA partition holds ${signature === "unknown" ? "data of an unknown format" : `a ${signature} filesystem`}, not ext4; ` +
          "KeelOS formats only an empty partition. Wipe it on purpose, or give the data label to the right partition."
      )
    }
    yield* mounts.mount({ source: device.path, target: Slot.dataMountPoint, fstype: "ext4", flags: ["nosuid", "nodev"] }).pipe(
      Effect.mapError((e) => refuse(e.message))
    )
    return outcome
  }))

/**
 * The EFI system partition at /run/keel/esp, for the agent to read and update the GRUB environment
 * block. vfat needs nls_cp437 and nls_ascii loaded first (boot.md G6). A failure is logged: the node
 * still boots, and the agent reports the boot environment as unreadable.
 */
const mountEsp = Effect.gen(function*() {
  const devices = yield* BlockDevice.BlockDevices
  const mounts = yield* Mounts.Mounts
  const fs = yield* FileSystem.FileSystem
  const device = yield* Effect.scoped(Effect.map(devices.open("EFI-SYSTEM"), (d) => d.path))
  yield* Effect.ignore(fs.makeDirectory(Slot.espMountPoint, { recursive: true }))
  yield* mounts.mount({ source: device, target: Slot.espMountPoint, fstype: "vfat", flags: ["nosuid", "nodev", "noexec"], data: "umask=0077" })
  return "mounted" as const
}).pipe(Effect.catch((error: { readonly message: string }) => Effect.as(log(`EFI system partition: ${error.message}`), "failed" as const)))

/** One more boot in the count on the data partition; 0 when it cannot be counted (logged). */
const countBoot = Effect.gen(function*() {
  const fs = yield* FileSystem.FileSystem
  yield* Effect.ignore(fs.makeDirectory(BootCount.file.slice(0, BootCount.file.lastIndexOf("/")), { recursive: true }))
  const store = yield* JsonFile.make(BootCount.BootCount, BootCount.file, BootCount.initial)
  return (yield* store.update((count) => ({ boots: count.boots + 1 }))).boots
}).pipe(Effect.catch((error: { readonly message: string }) => Effect.as(log(`boot count: ${error.message}`), 0)))

/** The static network from the data partition; a failure is logged, never fatal (the node still boots, the console says why). */
const configureNetwork = (file: string) =>
  Effect.gen(function*() {
    const config = yield* StaticNetwork.load(file)
    if (config === undefined) return { network: "not configured" as const, config: undefined }
    const lines = yield* StaticNetwork.apply(config)
    for (const line of lines) yield* log(`network: ${line}`)
    return { network: "configured" as const, config }
  }).pipe(Effect.catch((error) => Effect.as(log(`network: ${error.message}`), { network: "failed" as const, config: undefined })))

/** Where early boot's time went, step by step, for its closing line (a slow boot says why). */
const stopwatch = Effect.gen(function*() {
  const steps: Array<readonly [string, number]> = []
  let last = yield* Clock.currentTimeMillis
  const started = last
  const lap = (name: string) =>
    Effect.map(Clock.currentTimeMillis, (now) => {
      steps.push([name, now - last])
      last = now
    })
  const seconds = (millis: number) => `${(millis / 1000).toFixed(2)} s`
  const summary = Effect.map(Clock.currentTimeMillis, (now) => `in ${seconds(now - started)}: ${steps.map(([name, millis]) => `${name} ${seconds(millis)}`).join(", ")}`)
  return { lap, summary }
})

/** The modules vfat needs for the ESP (boot.md G6); the ESP mounts once those of them configured are in. */
const espModules = ["nls_cp437", "nls_ascii", "vfat"]

/** A module's name: "bonding max_bonds=0" is the module, then its parameters. */
const moduleName = (module: string) => module.split(" ")[0]!

/**
 * Loads the configured modules in their order on a fiber of their own (the kernel's part on a worker
 * thread), while early boot goes on with what needs none of them: the data partition. `loaded`
 * waits for the named ones; `boot` for those early boot needs, with those that failed; `services`
 * for the service modules after them, which it says it has loaded.
 */
const loadModules = (modules: ReadonlyArray<string>, serviceModules: ReadonlyArray<string>) =>
  Effect.gen(function*() {
    const kernel = yield* Kernel.Kernel
    const started = yield* Clock.currentTimeMillis
    const ready = new Map<string, Deferred.Deferred<void>>()
    for (const module of [...modules, ...serviceModules]) ready.set(moduleName(module), yield* Deferred.make<void>())
    const boot = yield* Deferred.make<{ readonly failed: ReadonlyArray<string>; readonly millis: number }>()
    const load = (module: string) =>
      Effect.gen(function*() {
        const [name, ...params] = module.split(" ")
        const loaded = yield* Effect.exit(kernel.loadModule(name!, params.join(" ")))
        if (loaded._tag === "Success") return true
        const reason = Cause.squash(loaded.cause)
        yield* log(`module ${module}: ${reason instanceof Error ? reason.message : String(reason)}`)
        return false
      }).pipe(Effect.ensuring(Deferred.succeed(ready.get(moduleName(module))!, undefined)))
    // Detached: the service modules go on loading after early boot has returned.
    const fiber = yield* Effect.forkDetach(Effect.gen(function*() {
      const failed: Array<string> = []
      for (const module of modules) if (!(yield* load(module))) failed.push(module)
      const bootDone = yield* Clock.currentTimeMillis
      yield* Deferred.succeed(boot, { failed, millis: bootDone - started })
      if (serviceModules.length === 0) return
      let loaded = 0
      for (const module of serviceModules) if (yield* load(module)) loaded++
      const seconds = ((yield* Clock.currentTimeMillis) - bootDone) / 1000
      yield* log(`service modules: ${loaded} of ${serviceModules.length} loaded in ${seconds.toFixed(2)} s alongside the first services`)
    }).pipe(
      // Whatever ends the loading, nothing waits for a module forever.
      Effect.ensuring(Effect.andThen(
        Effect.forEach(ready.values(), (deferred) => Deferred.succeed(deferred, undefined), { discard: true }),
        Deferred.succeed(boot, { failed: [...modules], millis: 0 })
      ))
    ))
    return {
      loaded: (names: ReadonlyArray<string>) =>
        Effect.forEach(names.flatMap((name) => ready.get(name) ?? []), Deferred.await, { discard: true }),
      boot: Deferred.await(boot),
      services: Effect.asVoid(Fiber.await(fiber))
    }
  })

export const run = (config: EarlyBootConfig) =>
  Effect.gen(function*() {
    const watch = yield* stopwatch
    const mounted = yield* mountApiFilesystems
    yield* watch.lap("mounts")
    const kernel = yield* Kernel.Kernel
    // Detached: the agent may start while it still reads, and then waits for the pages, not longer.
    yield* Effect.forkDetach(Effect.forEach(config.prefetch ?? [], (file) => kernel.prefetch(file).pipe(Effect.catch((e) => log(e.message))), { discard: true }))
    const modules = yield* loadModules(config.modules, config.serviceModules?.modules ?? [])
    yield* Effect.flatMap(Links.Links, (links) => links.up("lo")).pipe(Effect.catch((e) => log(e.message)))
    yield* kernel.setHostname(config.hostname).pipe(Effect.catch((e) => log(e.message)))
    const data = yield* mountData(config)
    yield* watch.lap("data partition")
    const boots = yield* countBoot
    yield* watch.lap("boot count")
    yield* modules.loaded(espModules)
    yield* watch.lap("waiting for vfat")
    const esp = yield* mountEsp
    yield* watch.lap("ESP")
    // A seed may be on a volume (isofs, loop) and the network needs its drivers: from here on, every
    // module but the services' own.
    const { failed: modulesFailed, millis: modulesMillis } = yield* modules.boot
    yield* watch.lap("the rest of the modules")
    const seed = yield* Seed.apply
    const hostname = yield* Effect.flatMap(FileSystem.FileSystem, (fs) => fs.readFileString(NodeFiles.hostnameFile)).pipe(Effect.map((t) => t.trim()), Effect.option)
    if (Option.isSome(hostname) && hostname.value !== config.hostname) yield* kernel.setHostname(hostname.value).pipe(Effect.catch((e) => log(e.message)))
    yield* watch.lap("seed")
    const { network, config: networkConfig } = yield* configureNetwork(config.networkFile ?? StaticNetwork.networkFile)
    yield* watch.lap("network")
    yield* log(
      `early boot done: ${mounted.length} filesystems mounted, data partition ${data}, ESP ${esp}, network ${network}, seed ${seed}, boot ${boots}; ` +
        `${yield* watch.summary} (${config.modules.length} modules in ${(modulesMillis / 1000).toFixed(2)} s alongside)`
    )
    const report: Report = { mounted, modulesFailed, data, esp, network, networkConfig, hostnameConfigured: Option.isSome(hostname), seed, boots, serviceModules: modules.services }
    return report
  })
