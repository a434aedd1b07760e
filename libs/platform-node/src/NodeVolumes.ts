/** Volumes by their first bytes: every entry of /sys/class/block, read through its /dev node. */
import * as fs from "node:fs"
import { Effect, Layer, Option } from "effect"
import { Volumes } from "@keelos/platform"

export const make = (sysfs = "/sys/class/block", dev = "/dev"): Volumes.Volumes["Service"] => ({
  find: (headBytes, accept) =>
    Effect.sync(() => {
      let names: Array<string>
      try {
        names = fs.readdirSync(sysfs).sort()
      } catch {
        return Option.none()
      }
      for (const name of names) {
        if (name.startsWith("loop") || name.startsWith("ram")) continue
        let fd: number | undefined
        try {
          fd = fs.openSync(`${dev}/${name}`, fs.constants.O_RDONLY | fs.constants.O_NONBLOCK)
          const head = Buffer.alloc(headBytes)
          const read = fs.readSync(fd, head, 0, headBytes, 0)
          if (accept(new Uint8Array(head.buffer, head.byteOffset, read))) return Option.some(`${dev}/${name}`)
        } catch {
          // no medium, no permission, gone: not the volume
        } finally {
          if (fd !== undefined) fs.closeSync(fd)
        }
      }
      return Option.none()
    })
})

export const layer: Layer.Layer<Volumes.Volumes> = Layer.succeed(Volumes.Volumes)(make())
