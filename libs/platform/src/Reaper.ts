/**
 * Reaping orphaned zombies as PID 1 (boot.md G9): libuv reaps the children Node spawned with
 * waitpid(pid), so a waitpid(-1) would steal their exits. The reaper only collects zombies whose
 * parent is us and that we did not spawn; callers also wait a grace period before reaping a zombie
 * (libuv collects its own within one turn of the event loop), so a race with libuv cannot steal one.
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
  /** Zombies whose parent is this process, except `own` (pids Node spawned and reaps itself). */
  readonly scan: (own: ReadonlySet<number>) => Effect.Effect<ReadonlyArray<number>, ReaperError>
  /** waitpid(pid, WNOHANG): the exit status, or undefined if it was not a zombie of ours. */
  readonly reap: (pid: number) => Effect.Effect<Reaped | undefined, ReaperError>
}>()("@keelos/platform/Reaper") {}
