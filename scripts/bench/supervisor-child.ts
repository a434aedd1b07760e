/**
 * The measured side of `npm run bench -- supervisor`: a supervisor over real processes. It restarts
 * a child that exits at once, CYCLES times with no backoff, timing each start with the monotonic
 * clock; then it supervises three idle services and reports its resident memory 3.5 s after the
 * loop and once settled (15.5 s).
 * Prints one JSON line.
 */
import { Effect } from "effect"
import { NodePlatform } from "@keelos/platform-node"
import { Supervisor } from "@keelos/supervisor"

const cycles = Number(process.argv[2] ?? 1000)
const backoff = { initialMillis: 0, maxMillis: 0, resetAfterMillis: 1_000 }
const service = (name: string, args: Array<string>) => ({
  kind: "service" as const,
  name: name as never,
  command: "/bin/sh",
  args,
  env: { PATH: "/usr/bin:/bin" },
  restart: "permanent" as const,
  shutdownGraceMillis: 1_000,
  dependsOn: [],
  readiness: { _tag: "ProcessAlive" as const },
  readyTimeoutMillis: 10_000,
  backoff,
  optional: false
})
const group = (children: Array<ReturnType<typeof service>>) => ({
  kind: "group" as const,
  name: "root" as never,
  restart: "permanent" as const,
  strategy: "one_for_one" as const,
  maxRestarts: 1_000_000,
  periodMillis: 1_000,
  dependsOn: [],
  backoff,
  children
})

const starts: Array<number> = []
const program = Effect.gen(function*() {
  const done = Promise.withResolvers<void>()
  const sup = yield* Supervisor.make(group([service("crasher", ["-c", "exit 1"])]), {
    onEvent: (event) =>
      Effect.sync(() => {
        if (event._tag !== "Started") return
        starts.push(performance.now())
        if (starts.length === cycles + 1) done.resolve()
      })
  })
  yield* Effect.promise(() => done.promise)
  yield* sup.shutdown
  const steady = yield* Supervisor.make(group([
    service("idle-a", ["-c", "exec sleep 600"]),
    service("idle-b", ["-c", "exec sleep 600"]),
    service("idle-c", ["-c", "exec sleep 600"])
  ]))
  yield* Effect.sleep("3 seconds")
  globalThis.gc?.()
  yield* Effect.sleep("500 millis")
  const settlingRss = process.memoryUsage().rss
  // Steady state: V8's memory reducer compacts the heap about 8 s after the last full collection of
  // a busy period (here the crash loop) once the process idles; before that the old generation
  // still holds the pages the loop fragmented.
  yield* Effect.sleep("12 seconds")
  const rss = process.memoryUsage().rss
  yield* steady.shutdown
  const intervals = starts.slice(1).map((t, i) => t - starts[i]!)
  console.log(JSON.stringify({ intervals, settlingRss, rss }))
})

Effect.runPromise(Effect.scoped(program).pipe(Effect.provide(NodePlatform.layer))).then(() => process.exit(0))
