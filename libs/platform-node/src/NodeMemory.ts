/**
 * Giving memory back while streaming gigabytes: every chunk a socket delivers is a Buffer whose
 * backing store V8 frees only when a garbage collection finds its small JS wrapper dead, and V8
 * waits for about 64 MB of such external memory before it collects. Streaming an OS image would
 * then hold tens of megabytes of dead chunks (measured: 80 MB growth for a 256 MB image, 35 MB with
 * `reclaim`), so the slot writer calls `reclaim` as it goes.
 */
import * as v8 from "node:v8"
import * as vm from "node:vm"
import { Effect } from "effect"

type Gc = (options?: { readonly type?: "minor" | "major"; readonly execution?: "sync" }) => void

let gc: Gc | undefined

const collector = (): Gc => {
  if (gc !== undefined) return gc
  const exposed = (globalThis as { gc?: Gc }).gc
  if (exposed !== undefined) return (gc = exposed)
  // Without --expose-gc: expose it for a fresh context, which hands back the same collector.
  v8.setFlagsFromString("--expose-gc")
  gc = vm.runInNewContext("gc") as Gc
  return gc
}

let calls = 0

/**
 * Called every few megabytes of a stream: a young-generation collection each time, and a full one
 * every fourth call, for chunk wrappers that were promoted before they died (a full collection of
 * the agent's small heap takes a few milliseconds).
 */
export const reclaim: Effect.Effect<void> = Effect.sync(() => collector()({ type: ++calls % 4 === 0 ? "major" : "minor" }))
