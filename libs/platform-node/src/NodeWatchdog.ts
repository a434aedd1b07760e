/**
 * /dev/watchdog (QEMU's i6300esb, or the softdog module): any write pets it; writing "V" before
 * closing is the magic close that disarms it on an orderly shutdown.
 */
import * as fs from "node:fs"
import { Effect, Layer } from "effect"
import { Watchdog } from "@keelos/platform"

const failure = (operation: "open" | "pet", error: unknown) => {
  const code = (error as NodeJS.ErrnoException).code
  return new Watchdog.WatchdogError({
    operation,
    reason: code === "ENOENT" ? "NotFound" : code === "EBUSY" ? "Busy" : "Io",
    detail: (error as Error).message
  })
}

export const make = (device = "/dev/watchdog"): Watchdog.Watchdog["Service"] => ({
  arm: Effect.acquireRelease(
    Effect.try({ try: () => fs.openSync(device, "w"), catch: (e) => failure("open", e) }),
    (fd) =>
      Effect.sync(() => {
        try {
          fs.writeSync(fd, "V")
        } finally {
          fs.closeSync(fd)
        }
      })
  ).pipe(Effect.map((fd) => ({ pet: Effect.try({ try: () => void fs.writeSync(fd, "\0"), catch: (e) => failure("pet", e) }) })))
})

export const layer = (device?: string): Layer.Layer<Watchdog.Watchdog> => Layer.succeed(Watchdog.Watchdog)(make(device))
