/**
 * One simulated machine: its disk (GPT partitions), the filesystem on its data partition, its
 * power supply, the trace and the seeded Prng that decides every fault. The hardware outlives a
 * boot; `layer` gives the node's software a fresh platform over it for each boot.
 */
import { Effect, FileSystem, Layer, Path } from "effect"
import type { HttpClient } from "effect/http"
import type { ChildProcessSpawner } from "effect/process"
import type { Slot } from "@keelos/domain"
import { BlockDevice, BootEnvBlock, DiskSpace, type HttpDownload, Power, Sockets } from "@keelos/platform"
import * as Durability from "./Durability.ts"
import { NodeHalted, PowerSupply } from "./Power.ts"
import { Prng } from "./Prng.ts"
import * as SimBootEnv from "./SimBootEnv.ts"
import { SimDisk } from "./SimDisk.ts"
import { SimFileSystem } from "./SimFileSystem.ts"
import { SimNetwork } from "./SimNetwork.ts"
import { SimProcesses } from "./SimProcesses.ts"
import { Trace } from "./Trace.ts"

export interface HardwareOptions {
  readonly seed: number
  /** Size of each root slot in bytes (small in simulation). */
  readonly slotBytes?: number
  /** Size of the data partition in bytes. */
  readonly dataBytes?: number
  readonly faultRates?: Durability.FaultRates
  /** The network this machine is attached to; a fleet shares one. */
  readonly network?: SimNetwork
}

/**
 * Service-level rewrites of the platform, for tests that plant a bug the simulator must catch
 * (for example a write path that never fsyncs).
 */
export interface PlatformMutation {
  readonly fileSystem?: (fs: FileSystem.FileSystem) => FileSystem.FileSystem
  readonly blockDevices?: (devices: BlockDevice.BlockDevices["Service"]) => BlockDevice.BlockDevices["Service"]
}

export class SimHardware {
  readonly seed: number
  readonly prng: Prng
  readonly trace: Trace
  readonly power: PowerSupply
  readonly disk: SimDisk
  readonly fs: SimFileSystem
  readonly processes: SimProcesses
  readonly network: SimNetwork
  readonly faultRates: Durability.FaultRates
  /** What statfs reports as available on the data partition; a test shrinks it to fill the disk. */
  dataFreeBytes = 512 * 1024 * 1024
  private boots = 0

  constructor(options: HardwareOptions) {
    this.seed = options.seed
    this.prng = new Prng(options.seed)
    this.trace = new Trace()
    this.power = new PowerSupply(this.trace)
    const slotBytes = options.slotBytes ?? 64 * 1024
    const layout: ReadonlyArray<readonly [Slot.PartitionLabel, number]> = [
      ["EFI-SYSTEM", 64 * 1024],
      ["KEELOS_ROOT_A", slotBytes],
      ["KEELOS_ROOT_B", slotBytes],
      ["KEELOS_DATA", options.dataBytes ?? 1024 * 1024]
    ]
    this.disk = new SimDisk(layout, this.power, this.trace)
    this.fs = new SimFileSystem(this.power, this.trace)
    this.processes = new SimProcesses(this.prng.fork(), this.trace)
    this.network = options.network ?? new SimNetwork(this.prng.fork(), this.trace)
    this.faultRates = options.faultRates ?? Durability.defaultFaultRates
    SimBootEnv.install(this.disk)
  }

  get bootCount(): number {
    return this.boots
  }

  /** The power went off uncleanly: unsynced writes land whole, torn or not at all. */
  crash(): void {
    this.trace.record("crash")
    this.power.switchOff()
    this.power.cancelCut()
    this.disk.crash(this.prng, this.faultRates)
    this.fs.crash(this.prng, this.faultRates)
    this.processes.powerLoss()
  }

  /** Power on: the firmware chooses a slot from the boot environment. */
  powerOn(): SimBootEnv.PowerOnResult {
    this.boots++
    this.power.powerOn()
    this.trace.record(`power on #${this.boots}`)
    return SimBootEnv.powerOn(this.disk, this.trace)
  }

  /** The platform a booted node's software sees. */
  layer(mutation: PlatformMutation = {}): Layer.Layer<
    | BlockDevice.BlockDevices
    | BootEnvBlock.BootEnvBlock
    | FileSystem.FileSystem
    | Path.Path
    | Power.Power
    | ChildProcessSpawner.ChildProcessSpawner
    | HttpClient.HttpClient
    | HttpDownload.HttpDownload
    | Sockets.Sockets
    | DiskSpace.DiskSpace
  > {
    const hardware = this
    const power = Layer.succeed(Power.Power)({
      sync: Effect.sync(() => {
        hardware.power.tick("sync(2)")
        hardware.disk.flushAll()
        hardware.fs.flushAll()
        hardware.trace.record("sync(2)")
      }),
      switchOff: (action) =>
        Effect.suspend(() => {
          hardware.trace.record(`switch off: ${action}`)
          hardware.power.switchOff()
          return Effect.die(new NodeHalted(action))
        })
    })
    const fileSystem = mutation.fileSystem === undefined
      ? this.fs.layer()
      : Layer.effect(FileSystem.FileSystem, Effect.map(FileSystem.FileSystem, mutation.fileSystem)).pipe(Layer.provide(this.fs.layer()))
    const devices = mutation.blockDevices === undefined
      ? this.disk.layer()
      : Layer.effect(BlockDevice.BlockDevices, Effect.map(BlockDevice.BlockDevices, mutation.blockDevices)).pipe(Layer.provide(this.disk.layer()))
    const space = Layer.succeed(DiskSpace.DiskSpace)({
      of: () => Effect.sync(() => ({ availableBytes: hardware.dataFreeBytes, totalBytes: Math.max(hardware.dataFreeBytes, 1024 * 1024 * 1024) }))
    })
    return Layer.mergeAll(devices, SimBootEnv.layer(this.disk), fileSystem, Path.layer, power, space, this.processes.layer(), this.processes.socketsLayer(), this.network.layer())
  }
}
