import { assert, describe, it } from "@effect/vitest"
import { Effect, Layer } from "effect"
import { Kernel, Links, Mounts } from "@keelos/platform"
import { SimHardware } from "@keelos/platform-sim"
import { EarlyBoot } from "../src/index.ts"

const config = { hostname: "node-1", modules: ["virtio_net", "missing_mod"], mkfs: "/sbin/mkfs.ext4" }

const harness = (dataContent?: Uint8Array) => {
  const hw = new SimHardware({ seed: 1 })
  if (dataContent !== undefined) hw.disk.writeThrough("KEELOS_DATA", 0, dataContent)
  const mkfsRuns: Array<ReadonlyArray<string>> = []
  hw.processes.install("/sbin/mkfs.ext4", ({ args }) => {
    mkfsRuns.push(args)
    return { exitAfterMillis: 0, exitCode: 0 }
  })
  const mounted: Array<Mounts.MountRequest> = []
  const calls: Array<string> = []
  const layer = Layer.mergeAll(
    hw.layer(),
    Layer.succeed(Mounts.Mounts)({
      // stage 1 moved /dev, /proc, /sys and /run into the new root
      list: Effect.succeed(["/", "/dev", "/proc", "/sys", "/run"].map((target) => ({ source: "x", target, fstype: "x", options: [] }))),
      mount: (request) => Effect.sync(() => void mounted.push(request)),
      unmount: () => Effect.void
    }),
    Layer.succeed(Kernel.Kernel)({
      cmdline: Effect.succeed([]),
      loadModule: (name) =>
        name === "missing_mod"
          ? Effect.fail(new Kernel.KernelError({ operation: "loadModule", target: name, reason: "NotFound", detail: "not in modules.dep" }))
          : Effect.sync(() => void calls.push(`module ${name}`)),
      setHostname: (name) => Effect.sync(() => void calls.push(`hostname ${name}`))
    }),
    Layer.succeed(Links.Links)({ up: (name) => Effect.sync(() => void calls.push(`up ${name}`)) })
  )
  return { hw, layer, mounted, calls, mkfsRuns }
}

describe("early boot", () => {
  it.effect("mounts what stage 1 did not, loads modules, brings up loopback, names the node, formats an empty data partition", () =>
    Effect.gen(function*() {
      const h = harness()
      const report = yield* EarlyBoot.run(config).pipe(Effect.provide(h.layer))
      assert.deepStrictEqual(report, { mounted: ["/dev/pts", "/tmp", "/sys/fs/cgroup"], modulesFailed: ["missing_mod"], data: "formatted" })
      assert.deepStrictEqual(h.calls, ["module virtio_net", "up lo", "hostname node-1"])
      assert.deepStrictEqual(h.mkfsRuns, [["-q", "-L", "KEELOS_DATA", "/dev/disk/by-partlabel/KEELOS_DATA"]])
      assert.deepStrictEqual(h.mounted.map((m) => [m.target, m.fstype]), [
        ["/dev/pts", "devpts"], ["/tmp", "tmpfs"], ["/sys/fs/cgroup", "cgroup2"], ["/var/lib/keel", "ext4"]
      ])
    }))

  it.effect("mounts an existing ext4 data filesystem without formatting it", () =>
    Effect.gen(function*() {
      const ext = new Uint8Array(2048)
      ext[1080] = 0x53
      ext[1081] = 0xef
      const h = harness(ext)
      const report = yield* EarlyBoot.run(config).pipe(Effect.provide(h.layer))
      assert.strictEqual(report.data, "mounted")
      assert.deepStrictEqual(h.mkfsRuns, [])
      assert.deepStrictEqual(h.mounted.at(-1)?.target, "/var/lib/keel")
    }))

  it.effect("refuses to format a data partition that holds anything, and says what to do", () =>
    Effect.gen(function*() {
      const garbage = new Uint8Array(4096).fill(7)
      const h = harness(garbage)
      const error = yield* Effect.flip(EarlyBoot.run(config).pipe(Effect.provide(h.layer)))
      assert.strictEqual(error._tag, "EarlyBootError")
      assert.strictEqual(error.step, "data")
      assert.include(error.message, "holds data of an unknown format, not ext4")
      assert.include(error.message, "Wipe it on purpose")
      assert.deepStrictEqual(h.mkfsRuns, [])
      assert.isFalse(h.mounted.some((m) => m.target === "/var/lib/keel"))
    }))
})
