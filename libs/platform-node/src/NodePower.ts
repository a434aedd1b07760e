/**
 * reboot(2), poweroff and halt. Before switching off: sync(2), and tcdrain on the console so the
 * last serial lines are not lost (boot.md G7).
 */
import { Effect, Layer } from "effect"
import { Power } from "@keelos/platform"
import { Errno, errnoName, libc } from "./internal/libc.ts"

/** glibc reboot(2) commands. */
export const RebootCommand = { reboot: 0x01234567, poweroff: 0x4321fedc, halt: 0xcdef0123 } as const

export const make: Power.Power["Service"] = {
  sync: Effect.sync(() => libc().sync()),
  switchOff: (action) =>
    Effect.suspend(() => {
      const c = libc()
      c.sync()
      c.tcdrain(1)
      const result = c.reboot(RebootCommand[action] | 0)
      const errno = c.errno()
      return Effect.fail(new Power.PowerError({
        operation: action,
        reason: errno === Errno.EPERM ? "NotPermitted" : "Failed",
        detail: `reboot(2) returned ${result}: ${errnoName(errno)}`
      }))
    })
}

export const layer: Layer.Layer<Power.Power> = Layer.succeed(Power.Power)(make)
