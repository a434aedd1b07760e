/**
 * Which zombies PID 1 reaps, and when. A zombie whose parent is init and that Node did not spawn is
 * an orphan; it is reaped only when a scan at least `graceMillis` after it was first seen still finds
 * it, because libuv collects the children Node spawned within one turn of the event loop, and a
 * waitpid that wins that race would steal an exit the supervisor is waiting for (boot.md G9).
 */
import { Clock, Effect } from "effect"
import { Reaper } from "@keelos/platform"

export const graceMillis = 100

export interface OrphanReaper {
  /** Scans once; returns how many orphans it reaped. `own`: the pids Node spawned. */
  readonly scan: (own: ReadonlySet<number>) => Effect.Effect<number>
}

export const make = Effect.gen(function*() {
  const reaper = yield* Reaper.Reaper
  const firstSeen = new Map<number, number>()
  const orphanReaper: OrphanReaper = {
    scan: (own) =>
      Effect.gen(function*() {
        const zombies = yield* Effect.orElseSucceed(reaper.scan(own), (): ReadonlyArray<number> => [])
        const now = yield* Clock.currentTimeMillis
        for (const pid of [...firstSeen.keys()]) if (!zombies.includes(pid)) firstSeen.delete(pid)
        let reaped = 0
        for (const pid of zombies) {
          const seen = firstSeen.get(pid)
          if (seen === undefined) firstSeen.set(pid, now)
          else if (now - seen >= graceMillis) {
            firstSeen.delete(pid)
            if ((yield* Effect.orElseSucceed(reaper.reap(pid), () => undefined)) !== undefined) reaped++
          }
        }
        return reaped
      })
  }
  return orphanReaper
})
