/**
 * /dev/kmsg read without blocking a thread: opened O_NONBLOCK, one record per read(2); EAGAIN means
 * "nothing more now", which ends the dump or, when following, waits 250 ms and tries again. EPIPE
 * means records were overwritten before they were read: reading goes on from the oldest kept.
 */
import * as fs from "node:fs"
import { Effect, Layer, Option, Stream } from "effect"
import { KernelLog } from "@keelos/platform"

const recordBytes = 8192

export const make = (device = "/dev/kmsg"): KernelLog.KernelLog["Service"] => ({
  records: ({ follow }) =>
    Stream.unwrap(Effect.gen(function*() {
      const fd = yield* Effect.acquireRelease(
        Effect.try({
          try: () => fs.openSync(device, fs.constants.O_RDONLY | fs.constants.O_NONBLOCK),
          catch: (error) => new KernelLog.KernelLogError({ reason: `${device}: ${(error as Error).message}` })
        }),
        (fd) => Effect.sync(() => fs.closeSync(fd))
      )
      const buffer = Buffer.alloc(recordBytes)
      type Page = readonly [ReadonlyArray<KernelLog.KernelRecord>, Option.Option<undefined>]
      const more = (records: ReadonlyArray<KernelLog.KernelRecord>): Page => [records, Option.some(undefined)]
      const end: Page = [[], Option.none()]
      const next = Effect.suspend((): Effect.Effect<Page, KernelLog.KernelLogError> => {
        try {
          const read = fs.readSync(fd, buffer, 0, recordBytes, null)
          const record = KernelLog.parse(buffer.subarray(0, read).toString("utf8"))
          return Effect.succeed(more(record === undefined ? [] : [record]))
        } catch (error) {
          const code = (error as NodeJS.ErrnoException).code
          if (code === "EPIPE") return Effect.succeed(more([]))
          if (code === "EAGAIN") return follow ? Effect.as(Effect.sleep("250 millis"), more([])) : Effect.succeed(end)
          return Effect.fail(new KernelLog.KernelLogError({ reason: `${device}: ${(error as Error).message}` }))
        }
      })
      return Stream.paginate<undefined, KernelLog.KernelRecord, KernelLog.KernelLogError>(undefined, () => next)
    }))
})

export const layer = (device?: string): Layer.Layer<KernelLog.KernelLog> => Layer.succeed(KernelLog.KernelLog)(make(device))
