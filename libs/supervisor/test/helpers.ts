/** Builds supervision trees over simulated processes on the TestClock. */
import { Effect, Layer } from "effect"
import type { ServiceSpec } from "@keelos/domain"
import { Prng, SimNetwork, SimProcesses, Trace } from "@keelos/platform-sim"
import { TestClock } from "effect/testing"

export const backoff = { initialMillis: 100, maxMillis: 1000, resetAfterMillis: 60_000 }

export const service = (name: string, overrides: Partial<ServiceSpec.ServiceSpec> = {}): ServiceSpec.ServiceSpec => ({
  kind: "service",
  name: name as ServiceSpec.ServiceName,
  command: `/usr/bin/${name}`,
  args: [],
  env: {},
  restart: "permanent",
  shutdownGraceMillis: 5_000,
  dependsOn: [],
  readiness: { _tag: "ProcessAlive" },
  readyTimeoutMillis: 30_000,
  backoff,
  optional: false,
  ...overrides
})

export const group = (name: string, children: ReadonlyArray<ServiceSpec.ChildSpec>, overrides: Partial<ServiceSpec.GroupSpec> = {}): ServiceSpec.GroupSpec => ({
  kind: "group",
  name: name as ServiceSpec.ServiceName,
  restart: "permanent",
  strategy: "one_for_one",
  maxRestarts: 100,
  periodMillis: 60_000,
  dependsOn: [],
  backoff,
  children,
  ...overrides
})

export const machine = () => {
  const trace = new Trace()
  const processes = new SimProcesses.SimProcesses(new Prng(1), trace)
  const network = new SimNetwork.SimNetwork(new Prng(2), trace)
  const layer = Layer.mergeAll(processes.layer(), processes.socketsLayer(), network.layer())
  return { trace, processes, network, layer }
}

/** Lets every runnable fiber run to its next wait before the clock moves. */
export const settle = Effect.gen(function*() {
  for (let i = 0; i < 50; i++) yield* Effect.yieldNow
})

/** Advances the TestClock in steps, letting the fibers woken at each step run first. */
export const advance = (millis: number, step = 50) =>
  Effect.gen(function*() {
    yield* settle
    for (let t = 0; t < millis; t += step) {
      yield* TestClock.adjust(Math.min(step, millis - t))
      yield* settle
    }
  })

export const startsOf = (journal: ReadonlyArray<{ readonly _tag: string; readonly atMillis: number }>) =>
  journal.filter((e) => e._tag === "Started").map((e) => e.atMillis)
