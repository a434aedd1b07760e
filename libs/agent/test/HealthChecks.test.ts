import { assert, describe, it } from "@effect/vitest"
import { Effect, Layer } from "effect"
import type { InitControl } from "@keelos/api"
import { SimHardware, SimLinks } from "@keelos/platform-sim"
import { HealthGate } from "@keelos/update"
import { HealthChecks, type InitClient } from "../src/index.ts"

const status = (name: string, state: InitControl.ServiceStatus["state"]): InitControl.ServiceStatus => ({
  name, kind: "service", group: "root", state, health: state === "running" ? "healthy" : "unknown", pid: null, restarts: 0, startedAtMillis: null, lastExit: null
})

/** An init whose service list is whatever `services()` says at the time of the call. */
const fakeInit = (services: () => ReadonlyArray<InitControl.ServiceStatus>) =>
  ({ ListServices: () => Effect.sync(services) }) as unknown as InitClient.InitClient["Service"]

const run = (services: () => ReadonlyArray<InitControl.ServiceStatus>) =>
  Effect.gen(function*() {
    const hw = new SimHardware({ seed: 3 })
    hw.powerOn()
    const links = SimLinks.make(["lo", "eth0"])
    const layer = Layer.mergeAll(hw.layer(), links.layer)
    return yield* Effect.gen(function*() {
      const checks = yield* HealthChecks.make(fakeInit(services), { probeDir: "/var/lib/keel/update", http: [] })
      return { names: checks.map((c) => c.name), results: yield* HealthGate.runOnce(checks) }
    }).pipe(Effect.provide(layer))
  })

describe("HealthChecks", () => {
  it.effect("a service still starting when the gate begins and absent later does not fail the gate forever", () =>
    Effect.gen(function*() {
      let calls = 0
      const { names, results } = yield* run(() => (calls++ === 0 ? [status("containerd", "starting"), status("kubelet", "starting")] : [status("containerd", "running"), status("kubelet", "absent")]))
      assert.deepStrictEqual(names, ["services", "network", "data-writable", "containerd", "kubelet"])
      assert.deepStrictEqual(results.find((r) => r.name === "kubelet")?.ok, true)
    }))

  it.effect("a present kubelet is asked for its healthz; a starting service fails the services check", () =>
    Effect.gen(function*() {
      const { results } = yield* run(() => [status("containerd", "starting"), status("kubelet", "running")])
      const byName = Object.fromEntries(results.map((r) => [r.name, r]))
      assert.match(byName["kubelet"]?.detail ?? "", /GET http:\/\/127\.0\.0\.1:10248\/healthz/)
      assert.strictEqual(byName["services"]?.detail, "containerd is starting")
    }))
})
