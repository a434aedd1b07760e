/**
 * Block devices on a real node: partitions found by GPT label (PARTNAME in sysfs, no udev needed),
 * opened read-write; `sync` is fsync on the device. `layerFromPaths` maps labels to files instead,
 * for image builds and host tests.
 */
import * as fs from "node:fs/promises"
import * as path from "node:path"
import { Effect, Layer } from "effect"
import type { Slot } from "@keelos/domain"
import { BlockDevice } from "@keelos/platform"
import { errnoName, libc } from "./internal/libc.ts"

const ioError = (operation: "open" | "read" | "write" | "sync", device: string) => (error: unknown) =>
  new BlockDevice.BlockDeviceError({
    operation,
    device,
    reason: (error as NodeJS.ErrnoException).code === "ENOENT" ? "NotFound" : "Io",
    detail: (error as Error).message
  })

/** Finds `/dev/<name>` of the partition whose GPT label is `label`, by scanning sysfs. */
export const findByLabel = async (label: string, sysfs = "/sys/class/block"): Promise<{ device: string; sizeBytes: number } | undefined> => {
  for (const name of await fs.readdir(sysfs)) {
    const uevent = await fs.readFile(path.join(sysfs, name, "uevent"), "utf8").catch(() => "")
    if (!uevent.split("\n").includes(`PARTNAME=${label}`)) continue
    const sectors = Number((await fs.readFile(path.join(sysfs, name, "size"), "utf8")).trim())
    const devname = uevent.split("\n").find((l) => l.startsWith("DEVNAME="))?.slice(8) ?? name
    return { device: `/dev/${devname}`, sizeBytes: sectors * 512 }
  }
  return undefined
}

const openDevice = (label: Slot.PartitionLabel, device: string, sizeBytes: number | undefined) =>
  Effect.acquireRelease(
    Effect.tryPromise({ try: () => fs.open(device, "r+"), catch: ioError("open", device) }),
    (handle) => Effect.promise(() => handle.close())
  ).pipe(
    Effect.flatMap((handle) =>
      Effect.tryPromise({ try: () => handle.stat(), catch: ioError("open", device) }).pipe(
        Effect.map((stat): BlockDevice.BlockDevice => {
          const size = sizeBytes ?? stat.size
          const fill = async (buffer: Uint8Array, offset: number) => {
            for (let done = 0; done < buffer.length;) {
              const { bytesRead } = await handle.read(buffer, done, buffer.length - done, offset + done)
              if (bytesRead === 0) throw new Error(`short read at ${offset + done}`)
              done += bytesRead
            }
          }
          const range = (operation: "read" | "write", offset: number, length: number) =>
            offset < 0 || offset + length > size
              ? Effect.fail(new BlockDevice.BlockDeviceError({ operation, device, reason: "OutOfRange", detail: `${offset}+${length} > ${size}` }))
              : Effect.void
          return {
            label,
            path: device,
            sizeBytes: size,
            read: (offset, length) =>
              Effect.andThen(range("read", offset, length), Effect.tryPromise({
                try: async () => {
                  const buffer = new Uint8Array(length)
                  await fill(buffer, offset)
                  return buffer
                },
                catch: ioError("read", device)
              })),
            readInto: (offset, into) =>
              Effect.andThen(range("read", offset, into.length), Effect.tryPromise({ try: () => fill(into, offset), catch: ioError("read", device) })),
            write: (offset, data) =>
              Effect.andThen(range("write", offset, data.length), Effect.tryPromise({
                try: async () => {
                  let done = 0
                  while (done < data.length) {
                    const { bytesWritten } = await handle.write(data, done, data.length - done, offset + done)
                    done += bytesWritten
                  }
                },
                catch: ioError("write", device)
              })),
            sync: Effect.tryPromise({ try: () => handle.sync(), catch: ioError("sync", device) }),
            dropCache: (offset, length) =>
              Effect.sync(() => {
                // POSIX_FADV_DONTNEED: clean pages go; a filesystem without a cache (tmpfs) ignores it.
                const code = libc().posixFadvise(handle.fd, offset, length, 4)
                if (code !== 0) return Effect.logDebug(`posix_fadvise ${device}: ${errnoName(code)}`)
                return Effect.void
              }).pipe(Effect.flatten)
          }
        })
      )
    )
  )

/** Partitions by GPT label from sysfs. */
export const layer: Layer.Layer<BlockDevice.BlockDevices> = Layer.succeed(BlockDevice.BlockDevices)({
  open: (label) =>
    Effect.tryPromise({ try: () => findByLabel(label), catch: ioError("open", label) }).pipe(
      Effect.flatMap((found) =>
        found === undefined
          ? Effect.fail(new BlockDevice.BlockDeviceError({ operation: "open", device: label, reason: "NotFound", detail: "no partition carries this GPT label" }))
          : openDevice(label, found.device, found.sizeBytes)
      )
    )
})

/** Labels mapped to files or devices given by path (image builds, tests). */
export const layerFromPaths = (paths: Partial<Record<Slot.PartitionLabel, string>>): Layer.Layer<BlockDevice.BlockDevices> =>
  Layer.succeed(BlockDevice.BlockDevices)({
    open: (label) => {
      const file = paths[label]
      return file === undefined
        ? Effect.fail(new BlockDevice.BlockDeviceError({ operation: "open", device: label, reason: "NotFound", detail: "no path configured for this label" }))
        : openDevice(label, file, undefined)
    }
  })
