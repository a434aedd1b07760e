import { assert, describe, it } from "@effect/vitest"
import { Effect, Exit } from "effect"
import { BlockDevice } from "@keelos/platform"
import { SimNetwork } from "@keelos/platform-sim"
import { SlotWriter } from "../src/index.ts"
import { image, machine, serve, sha256 } from "./helpers.ts"

const size = 200_000
const body = image(7, size)
const target = (path = "/os.img", digest = sha256(body)) => ({ url: new URL(`http://images.test${path}`), sha256: digest, sizeBytes: size })

const writeInto = (hardware: ReturnType<typeof machine>, t: SlotWriter.Target, resumeFrom = 0) => {
  const progress: Array<number> = []
  const synced: Array<number> = []
  const run = Effect.scoped(Effect.gen(function*() {
    const device = yield* (yield* BlockDevice.BlockDevices).open("KEELOS_ROOT_B")
    yield* SlotWriter.write(device, t, {
      resumeFrom,
      bufferBytes: 16 * 1024,
      syncEveryBytes: 64 * 1024,
      retryBaseMillis: 1,
      onProgress: (bytes) => Effect.sync(() => void progress.push(bytes)),
      onSynced: (bytes) => Effect.sync(() => void synced.push(bytes))
    })
  })).pipe(Effect.provide(hardware.layer()))
  return { run, progress, synced }
}

const slotHolds = (hardware: ReturnType<typeof machine>, bytes: Uint8Array) =>
  sha256(hardware.disk.read("KEELOS_ROOT_B", 0, bytes.length)) === sha256(bytes)

describe("SlotWriter", () => {
  it.live("streams the image into the slot with progress, periodic syncs and a final sync", () =>
    Effect.gen(function*() {
      const hardware = machine()
      serve(hardware, "images.test", [{ path: "/os.img", body }])
      const w = writeInto(hardware, target())
      yield* w.run
      assert.isTrue(slotHolds(hardware, body))
      assert.strictEqual(w.progress.at(-1), size)
      assert.deepStrictEqual(w.synced, [65536, 131072, 196608, size])
    }))

  it.live("reads the slot back from the device past the page cache: a device that loses a write is caught", () =>
    Effect.gen(function*() {
      const hardware = machine(5)
      serve(hardware, "images.test", [{ path: "/os.img", body }])
      const dropped: Array<[number, number]> = []
      // A device that acknowledges the write at 80 KiB but keeps zeros there.
      const lossy = hardware.layer({
        blockDevices: (devices) => ({
          open: (label) =>
            Effect.map(devices.open(label), (device) => ({
              ...device,
              write: (offset, data) => offset === 80 * 1024 ? device.write(offset, new Uint8Array(data.length)) : device.write(offset, data),
              dropCache: (offset, length) => Effect.sync(() => void dropped.push([offset, length]))
            }))
        })
      })
      const exit = yield* Effect.exit(Effect.scoped(Effect.gen(function*() {
        const device = yield* (yield* BlockDevice.BlockDevices).open("KEELOS_ROOT_B")
        yield* SlotWriter.write(device, target(), {
          resumeFrom: 0,
          bufferBytes: 16 * 1024,
          syncEveryBytes: 64 * 1024,
          retryBaseMillis: 1,
          onProgress: () => Effect.void,
          onSynced: () => Effect.void
        })
      })).pipe(Effect.provide(lossy)))
      assert.isTrue(Exit.isFailure(exit))
      assert.match(String(Exit.isFailure(exit) ? exit.cause : ""), /verify: Integrity: slot KEELOS_ROOT_B reads back as [0-9a-f]{64}, not/)
      // The whole image was dropped from the cache before it was read back.
      assert.deepStrictEqual(dropped, [[0, size]])
    }))

  it.live("resumes a broken transfer with a Range request from the last byte written", () =>
    Effect.gen(function*() {
      const hardware = machine(3)
      const log = serve(hardware, "images.test", [{ path: "/os.img", body }])
      hardware.network.setFaults({ ...SimNetwork.noFaults, truncate: 0.6 })
      yield* writeInto(hardware, target()).run
      assert.isTrue(slotHolds(hardware, body))
      const ranges = log.filter((line) => line.includes("bytes="))
      assert.isAbove(ranges.length, 0, log.join("\n"))
      // Each range starts where the previous transfer stopped, so offsets only grow.
      const starts = ranges.map((line) => Number(/bytes=(\d+)-/.exec(line)![1]))
      assert.deepStrictEqual(starts, [...starts].sort((a, b) => a - b))
    }))

  it.live("after a crash, rehashes the synced prefix from the device and downloads only the rest", () =>
    Effect.gen(function*() {
      const hardware = machine()
      hardware.disk.write("KEELOS_ROOT_B", 0, body.subarray(0, 65536))
      const log = serve(hardware, "images.test", [{ path: "/os.img", body }])
      yield* writeInto(hardware, target(), 65536).run
      assert.deepStrictEqual(log, ["/os.img bytes=65536-"])
      assert.isTrue(slotHolds(hardware, body))
    }))

  it.live("starts over when the server ignores ranges", () =>
    Effect.gen(function*() {
      const hardware = machine()
      hardware.disk.write("KEELOS_ROOT_B", 0, body.subarray(0, 65536))
      serve(hardware, "images.test", [{ path: "/os.img", body }], { ranges: false })
      yield* writeInto(hardware, target(), 65536).run
      assert.isTrue(slotHolds(hardware, body))
    }))

  it.live("refuses bytes that do not hash to the digest (corrupted in flight)", () =>
    Effect.gen(function*() {
      const hardware = machine()
      serve(hardware, "images.test", [{ path: "/os.img", body }])
      hardware.network.setFaults({ ...SimNetwork.noFaults, corrupt: 1 })
      const exit = yield* Effect.exit(writeInto(hardware, target()).run)
      assert.isTrue(Exit.isFailure(exit))
      assert.match(String(Exit.isFailure(exit) && exit.cause), /Integrity.*not the expected/)
    }))

  it.live("a prefix on the device that is not the image is caught by the digest", () =>
    Effect.gen(function*() {
      const hardware = machine()
      hardware.disk.write("KEELOS_ROOT_B", 0, image(99, 65536))
      serve(hardware, "images.test", [{ path: "/os.img", body }])
      const exit = yield* Effect.exit(writeInto(hardware, target(), 65536).run)
      assert.match(String(Exit.isFailure(exit) && exit.cause), /Integrity/)
    }))

  it.live("fails with the status for a missing image, without retrying", () =>
    Effect.gen(function*() {
      const hardware = machine()
      const log = serve(hardware, "images.test", [])
      const exit = yield* Effect.exit(writeInto(hardware, target()).run)
      assert.match(String(Exit.isFailure(exit) && exit.cause), /HttpStatus.*404/)
      assert.strictEqual(log.length, 1)
    }))

  it.live("gives up after attempts without progress on an unreachable server", () =>
    Effect.gen(function*() {
      const hardware = machine()
      const exit = yield* Effect.exit(writeInto(hardware, target()).run)
      assert.match(String(Exit.isFailure(exit) && exit.cause), /Transfer.*unreachable.*6 attempts/)
    }))

  it.live("refuses an image larger than the slot before downloading", () =>
    Effect.gen(function*() {
      const hardware = machine(1, 100_000)
      const log = serve(hardware, "images.test", [{ path: "/os.img", body }])
      const exit = yield* Effect.exit(writeInto(hardware, target()).run)
      assert.match(String(Exit.isFailure(exit) && exit.cause), /NoSpace/)
      assert.strictEqual(log.length, 0)
    }))
})
