import { assert, describe, it } from "@effect/vitest"
import { Effect, Fiber, Layer } from "effect"
import { Kernel, Links, Mounts } from "@keelos/platform"
import { SimHardware } from "@keelos/platform-sim"
import { EarlyBoot } from "../src/index.ts"

const config = { hostname: "node-1", modules: ["virtio_net", "missing_mod"], mkfs: "/sbin/mkfs.ext4" }

const harness = (dataContent?: Uint8Array) => {
  const hw = new SimHardware({ seed: 1, dataBytes: 4 << 20 })
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
      // the filesystem leaves the partition's last MiB to the format marker
      assert.deepStrictEqual(h.mkfsRuns, [["-q", "-F", "-b", "4096", "-L", "KEELOS_DATA", "/dev/disk/by-partlabel/KEELOS_DATA", String((h.hw.disk.sizeOf("KEELOS_DATA") - (1 << 20)) / 4096)]])
      const tail = h.hw.disk.read("KEELOS_DATA", h.hw.disk.sizeOf("KEELOS_DATA") - (1 << 20), 64)
      assert.isTrue(tail.every((b) => b === 0), "the marker is cleared after mkfs")
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

  it.effect("formats again when an earlier format was interrupted, whatever mkfs left behind", () =>
    Effect.gen(function*() {
      const h = harness(new Uint8Array(4096).fill(7))
      const size = h.hw.disk.sizeOf("KEELOS_DATA")
      h.hw.disk.writeThrough("KEELOS_DATA", size - (1 << 20), new TextEncoder().encode("KEELOS-FORMAT-IN-PROGRESS\n"))
      const report = yield* EarlyBoot.run(config).pipe(Effect.provide(h.layer))
      assert.strictEqual(report.data, "formatted")
      assert.strictEqual(h.mkfsRuns.length, 1)
    }))

  it.effect("a power cut during mkfs leaves the marker, so the next boot formats again", () =>
    Effect.gen(function*() {
      const h = harness()
      h.hw.processes.install("/sbin/mkfs.ext4", ({ args }) => {
        h.mkfsRuns.push(args)
        return {} // mkfs never finishes: the power goes first
      })
      const fiber = yield* Effect.forkChild(EarlyBoot.run(config).pipe(Effect.provide(h.layer)))
      for (let i = 0; i < 50; i++) yield* Effect.yieldNow
      assert.strictEqual(h.mkfsRuns.length, 1)
      yield* Fiber.interrupt(fiber)
      h.hw.crash()
      h.hw.powerOn()
      // mkfs had written part of a filesystem at the start of the partition before the cut
      const partialExt = new Uint8Array(2048)
      partialExt[1080] = 0x53
      partialExt[1081] = 0xef
      h.hw.disk.writeThrough("KEELOS_DATA", 0, partialExt)
      h.hw.processes.install("/sbin/mkfs.ext4", ({ args }) => {
        h.mkfsRuns.push(args)
        return { exitAfterMillis: 0 }
      })
      const report = yield* EarlyBoot.run(config).pipe(Effect.provide(h.layer))
      assert.strictEqual(report.data, "formatted")
      assert.strictEqual(h.mkfsRuns.length, 2)
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
