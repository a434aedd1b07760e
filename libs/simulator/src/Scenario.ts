/**
 * What a simulation scenario is: a name, the node software it boots (production code over the
 * simulated platform), and the checks it makes of the hardware between boots. The runner owns the
 * loop (power on, run, cut power, crash, check) and the seed; a scenario owns its model of what
 * must stay true.
 */
import type { Effect, FileSystem, Path } from "effect"
import type { HttpClient } from "effect/http"
import type { BlockDevice, BootEnvBlock, DiskSpace, HttpDownload, Power } from "@keelos/platform"
import type { BootDecision } from "@keelos/boot"
import type { SimHardware } from "@keelos/platform-sim"

/** The platform a simulated node's software runs on. */
export type SimPlatform =
  | BlockDevice.BlockDevices
  | BootEnvBlock.BootEnvBlock
  | DiskSpace.DiskSpace
  | FileSystem.FileSystem
  | Path.Path
  | Power.Power
  | HttpClient.HttpClient
  | HttpDownload.HttpDownload

export interface Violation {
  readonly invariant: string
  readonly detail: string
}

/** One instance of a scenario for one seed: the model lives here. */
export interface ScenarioRun {
  /** Prepares the hardware as an image build would (factory image, boot environment). */
  readonly install: (hardware: SimHardware) => void
  /** Checks made right after the firmware chose a slot, before userspace runs. */
  readonly afterPowerOn: (hardware: SimHardware, decision: BootDecision.Decision) => ReadonlyArray<Violation>
  /** The node's software for one boot. Ends by halting the node, or is cut short by a power cut. */
  readonly boot: (decision: BootDecision.Decision) => Effect.Effect<void, unknown, SimPlatform>
  /** Checks of the durable state after the node went down (cleanly or not). */
  readonly afterPowerOff: (hardware: SimHardware) => ReadonlyArray<Violation>
}

export interface Scenario {
  readonly name: string
  readonly description: string
  /** Hardware operations a boot makes, roughly: power cuts are planned uniformly below this. */
  readonly operationsPerBoot: number
  /** Size of each simulated root slot. */
  readonly slotBytes: number
  /** Probability that a boot has a power cut planned, unless the run says otherwise (default 0.5). */
  readonly powerCutRate?: number
  /** Boots per run, unless the run says otherwise (default 24). */
  readonly boots?: number
  /** Step of the virtual clock while the software waits (default 100 ms); coarser is faster. */
  readonly tickMillis?: number
  readonly make: () => ScenarioRun
}
