/**
 * keel-init as the initramfs /init, for kernels booted without KeelOS's C stage 1 (DESIGN §3): the
 * same steps in TypeScript. Mount /dev, /proc and /sys; load the modules the root needs (virtio
 * block, squashfs); find the slot GRUB chose (`keel.slot=A|B`, A when absent) by its GPT label,
 * waiting a little for late devices; mount it read-only; move the API filesystems into it; switch
 * root (the initramfs's files removed); exec keel-init from the slot as the same PID 1, which then
 * boots as it does after stage 1. A failure is returned for the caller to report and power off:
 * a stage that cannot find its root must not loop.
 */
import { Console, Duration, Effect, FileSystem, Schedule, Schema } from "effect"
import { Slot } from "@keelos/domain"
import { BlockDevice, Kernel, Mounts, SwitchRoot } from "@keelos/platform"
import * as EarlyBoot from "./EarlyBoot.ts"

export const StageOneConfig = Schema.Struct({
  mode: Schema.Literal("initramfs"),
  /** Loaded in this order, each with its dependencies (modules.dep in the initramfs). */
  modules: Schema.Array(Schema.String),
  /** Where the slot is mounted before it becomes the root. */
  newRoot: Schema.String,
  /** What runs from the slot as PID 1: keel-init on the slot's Node. */
  exec: Schema.Struct({ command: Schema.String, args: Schema.Array(Schema.String), env: Schema.Record(Schema.String, Schema.String) }),
  /** How long to wait for the slot's partition to appear. */
  deviceWaitMillis: Schema.Int.check(Schema.isBetween({ minimum: 0, maximum: 600_000 }))
})
export type StageOneConfig = typeof StageOneConfig.Type

export class StageOneError extends Schema.TaggedError<StageOneError>()("StageOneError", {
  step: Schema.Literals(["mount", "modules", "root", "switch", "exec"]),
  reason: Schema.String
}) {
  override get message(): string {
    return `initramfs, ${this.step}: ${this.reason}`
  }
}

/** What stage 1 mounts and moves into the new root; keel-init's early boot mounts the rest there. */
const apiFilesystems: ReadonlyArray<Mounts.MountRequest> = ["/dev", "/proc", "/sys"].map((target) => EarlyBoot.apiFilesystems.find((m) => m.target === target)!)

const log = (line: string) => Console.log(`keel-init: initramfs: ${line}`)

/** The slot the boot loader chose, from `keel.slot=` on the kernel command line; A when absent or invalid. */
export const chosenSlot = (cmdline: ReadonlyArray<string>): Slot.Slot => {
  const value = Kernel.parseCmdline(cmdline).get("keel.slot")
  return value === "B" ? "B" : "A"
}

/** Mounts the chosen slot and execs keel-init from it; succeeds never (execve replaces the process). */
export const run = (config: StageOneConfig) =>
  Effect.gen(function*() {
    const fs = yield* FileSystem.FileSystem
    const mounts = yield* Mounts.Mounts
    const kernel = yield* Kernel.Kernel
    const devices = yield* BlockDevice.BlockDevices
    const switchRoot = yield* SwitchRoot.SwitchRoot
    const fail = (step: StageOneError["step"]) => (error: { readonly message: string }) => new StageOneError({ step, reason: error.message })

    const present = new Set((yield* Effect.orElseSucceed(mounts.list, () => [])).map((m) => m.target))
    for (const request of apiFilesystems) {
      if (present.has(request.target)) continue
      yield* Effect.ignore(fs.makeDirectory(request.target, { recursive: true }))
      yield* Effect.mapError(mounts.mount(request), fail("mount"))
    }
    for (const module of config.modules) yield* Effect.mapError(kernel.loadModule(module), fail("modules"))

    const slot = chosenSlot(yield* Effect.orElseSucceed(kernel.cmdline, () => []))
    const label = Slot.rootLabel(slot)
    // The block driver was loaded just now: its disks appear a moment later.
    const device = yield* Effect.scoped(Effect.map(devices.open(label), (d) => d.path)).pipe(
      Effect.retry(Schedule.spaced(Duration.millis(50)).pipe(Schedule.upTo({ duration: Duration.millis(config.deviceWaitMillis) }))),
      Effect.mapError(fail("root"))
    )
    yield* Effect.mapError(fs.makeDirectory(config.newRoot, { recursive: true }), fail("root"))
    yield* Effect.mapError(mounts.mount({ source: device, target: config.newRoot, fstype: "squashfs", readOnly: true }), fail("root"))
    yield* log(`root ${label} from ${device}`)

    for (const { target } of apiFilesystems) {
      yield* Effect.mapError(mounts.mount({ source: target, target: `${config.newRoot}${target}`, fstype: "", flags: ["move"] }), fail("switch"))
    }
    const { removed } = yield* Effect.mapError(switchRoot.switchTo(config.newRoot), fail("switch"))
    yield* log(`switched root (${removed} initramfs entries freed); exec ${config.exec.command} ${config.exec.args.join(" ")}`)
    return yield* Effect.mapError(switchRoot.exec(config.exec.command, config.exec.args, config.exec.env), fail("exec"))
  })
