/** keel-init as the initramfs /init: the steps of stage 1 in order, against recording platform services. */
import { assert, describe, it } from "@effect/vitest"
import { Duration, Effect, Exit, Fiber, Layer } from "effect"
import { TestClock } from "effect/testing"
import { BlockDevice, Kernel, Mounts, SwitchRoot } from "@keelos/platform"
import { SimHardware } from "@keelos/platform-sim"
import { StageOne } from "../src/index.ts"

const config: StageOne.StageOneConfig = {
  mode: "initramfs",
  modules: ["virtio_pci", "virtio_blk", "squashfs"],
  newRoot: "/newroot",
  exec: { command: "/usr/bin/node", args: ["/usr/lib/keel/keel-init.js"], env: { PATH: "/usr/bin:/usr/sbin" } },
  deviceWaitMillis: 1_000
}

/** Services that record every call in one list; the slot's partition appears after `lateOpens` tries. */
const harness = (options: { readonly cmdline: ReadonlyArray<string>; readonly lateOpens: number; readonly failModule?: string }) => {
  const calls: Array<string> = []
  let opens = 0
  const layer = Layer.mergeAll(
    new SimHardware({ seed: 1, dataBytes: 1 << 20 }).layer(),
    Layer.succeed(Mounts.Mounts)({
      list: Effect.succeed([{ source: "rootfs", target: "/", fstype: "rootfs", options: [] }]),
      mount: (r) => Effect.sync(() => void calls.push(`mount ${r.source} ${r.target} ${r.fstype}${r.readOnly === true ? " ro" : ""}${(r.flags ?? []).map((f) => ` ${f}`).join("")}`)),
      unmount: () => Effect.void
    }),
    Layer.succeed(Kernel.Kernel)({
      cmdline: Effect.succeed(options.cmdline),
      loadModule: (name) =>
        name === options.failModule
          ? Effect.fail(new Kernel.KernelError({ operation: "loadModule", target: name, reason: "NotFound", detail: "not in modules.dep" }))
          : Effect.sync(() => void calls.push(`module ${name}`)),
      setHostname: () => Effect.void,
      prefetch: () => Effect.void
    }),
    Layer.succeed(BlockDevice.BlockDevices)({
      open: (label) =>
        Effect.suspend(() => {
          opens++
          return opens <= options.lateOpens
            ? Effect.fail(new BlockDevice.BlockDeviceError({ operation: "open", device: label, reason: "NotFound", detail: "no partition with this label" }))
            : Effect.succeed({ label, path: label === "KEELOS_ROOT_B" ? "/dev/vda4" : "/dev/vda3", sizeBytes: 1 << 20 } as unknown as BlockDevice.BlockDevice)
        })
    }),
    Layer.succeed(SwitchRoot.SwitchRoot)({
      switchTo: (newRoot) => Effect.sync(() => (calls.push(`switch ${newRoot}`), { removed: 42 })),
      exec: (command, args, env) =>
        Effect.suspend(() => {
          calls.push(`exec ${command} ${args.join(" ")} PATH=${env["PATH"]}`)
          return Effect.fail(new SwitchRoot.SwitchRootError({ operation: "exec", target: command, detail: "recorded" }))
        })
    })
  )
  return { calls, layer, opens: () => opens }
}

/** Runs stage one to its end (the recording exec fails), moving the test clock for the device waits. */
const runToEnd = (h: ReturnType<typeof harness>) =>
  Effect.gen(function*() {
    const fiber = yield* Effect.forkChild(Effect.exit(StageOne.run(config).pipe(Effect.provide(h.layer))))
    for (let i = 0; i < 40 && fiber.pollUnsafe() === undefined; i++) yield* TestClock.adjust(Duration.millis(50))
    return yield* Fiber.join(fiber)
  })

describe("StageOne", () => {
  it.effect("mounts the API filesystems, loads the modules, waits for the slot GRUB chose, switches root and execs keel-init from it", () =>
    Effect.gen(function*() {
      const h = harness({ cmdline: ["console=ttyS0", "keel.slot=B"], lateOpens: 3 })
      const exit = yield* runToEnd(h)
      assert.isTrue(Exit.isFailure(exit))
      assert.strictEqual(h.opens(), 4, "the partition is looked for again until it appears")
      assert.deepStrictEqual(h.calls, [
        "mount devtmpfs /dev devtmpfs nosuid",
        "mount proc /proc proc nosuid nodev noexec",
        "mount sysfs /sys sysfs nosuid nodev noexec",
        "module virtio_pci",
        "module virtio_blk",
        "module squashfs",
        "mount /dev/vda4 /newroot squashfs ro",
        "mount /dev /newroot/dev  move",
        "mount /proc /newroot/proc  move",
        "mount /sys /newroot/sys  move",
        "switch /newroot",
        "exec /usr/bin/node /usr/lib/keel/keel-init.js PATH=/usr/bin:/usr/sbin"
      ])
    }))

  it.effect("takes slot A when the command line names none or something else", () =>
    Effect.gen(function*() {
      assert.strictEqual(StageOne.chosenSlot([]), "A")
      assert.strictEqual(StageOne.chosenSlot(["keel.slot=C"]), "A")
      assert.strictEqual(StageOne.chosenSlot(["keel.slot=B", "keel.slot=A"]), "A")
      const h = harness({ cmdline: ["quiet"], lateOpens: 0 })
      yield* runToEnd(h)
      assert.include(h.calls, "mount /dev/vda3 /newroot squashfs ro")
    }))

  it.effect("fails with the step and reason when the slot never appears, before touching the root", () =>
    Effect.gen(function*() {
      const h = harness({ cmdline: [], lateOpens: 1_000 })
      const exit = yield* runToEnd(h)
      assert.isTrue(Exit.isFailure(exit))
      const error = Exit.isFailure(exit) ? String(exit.cause) : ""
      assert.include(error, "initramfs, root: open KEELOS_ROOT_A: NotFound")
      assert.isFalse(h.calls.some((c) => c.startsWith("switch") || c.startsWith("exec")))
      assert.isAtMost(h.opens(), 1_000 / 50 + 2, "it gives up after deviceWaitMillis")
    }))

  it.effect("fails at a module that cannot be loaded", () =>
    Effect.gen(function*() {
      const h = harness({ cmdline: [], lateOpens: 0, failModule: "virtio_blk" })
      const exit = yield* runToEnd(h)
      assert.include(Exit.isFailure(exit) ? String(exit.cause) : "", "initramfs, modules: ")
      assert.deepStrictEqual(h.calls.filter((c) => c.startsWith("module")), ["module virtio_pci"])
    }))
})
