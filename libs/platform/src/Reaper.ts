/**
 * Reaping orphaned zombies as PID 1 (boot.md G9): libuv reaps the children Node spawned with
 * waitpid(pid), so a waitpid(-1) would steal their exits. The reaper only collects zombies whose
 * parent is us and that we did not spawn.
 */
import { Context, Effect, Schema } from "effect"

export class ReaperError extends Schema.TaggedError<ReaperError>()("ReaperError", {
  operation: Schema.Literals(["scan", "reap"]),
  reason: Schema.Literals(["Io", "Failed"]),
  detail: Schema.String
}) {}

export interface Reaped {
  readonly pid: number
  readonly status: number
}

export class Reaper extends Context.Service<Reaper, {
  /** Reaps orphaned zombies, skipping `own` (pids that Node spawned and will reap itself). */
  readonly reapOrphans: (own: ReadonlySet<number>) => Effect.Effect<ReadonlyArray<Reaped>, ReaperError>
}>()("@keelos/platform/Reaper") {}
