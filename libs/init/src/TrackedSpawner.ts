/**
 * The ChildProcessSpawner keel-init gives the supervisor: the real one, plus the set of pids Node
 * spawned. libuv reaps its own children with waitpid(pid); the orphan reaper must skip them or it
 * would steal their exit statuses and the supervisor would never see them exit (boot.md G9). A pid
 * is forgotten only after the spawner's own finalizer has seen the process exit (the finalizer is
 * registered before the spawn, so it runs after); the reaper's grace period covers the moment
 * between fork and the pid being recorded.
 */
import { Context, Effect, Layer } from "effect"
import { ChildProcessSpawner } from "effect/process"

export class SpawnedPids extends Context.Service<SpawnedPids, {
  readonly current: Effect.Effect<ReadonlySet<number>>
}>()("@keelos/init/SpawnedPids") {}

/** Wraps the spawner in context and provides both the wrapped spawner and SpawnedPids. */
export const layer: Layer.Layer<ChildProcessSpawner.ChildProcessSpawner | SpawnedPids, never, ChildProcessSpawner.ChildProcessSpawner> =
  Layer.effectContext(Effect.gen(function*() {
    const inner = yield* ChildProcessSpawner.ChildProcessSpawner
    const pids = new Set<number>()
    const spawner = ChildProcessSpawner.make((command) =>
      Effect.gen(function*() {
        let pid: number | undefined
        yield* Effect.addFinalizer(() => Effect.sync(() => pid !== undefined && pids.delete(pid)))
        const handle = yield* inner.spawn(command)
        pid = handle.pid
        pids.add(pid)
        return handle
      })
    )
    return Context.make(ChildProcessSpawner.ChildProcessSpawner, spawner).pipe(
      Context.add(SpawnedPids, { current: Effect.sync(() => new Set(pids)) })
    )
  }))
