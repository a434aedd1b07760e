import { describe, expect, it } from "vitest"
import { Effect, Exit, Path } from "effect"
import { SimHardware } from "@keelos/platform-sim"
import { Audit, Authorization } from "../src/index.ts"

describe("audit", () => {
  it("redacts secrets and cuts long arguments", () => {
    expect(Audit.summarize({ service: "kubelet", token: "s3cret", nested: { privateKey: "k" } })).toBe(
      "{\"service\":\"kubelet\",\"token\":\"[redacted]\",\"nested\":{\"privateKey\":\"[redacted]\"}}"
    )
    expect(Audit.summarize({ reason: "x".repeat(1000) }).length).toBe(256)
    expect(Audit.summarize(undefined)).toBe("{}")
  })

  it("keeps the newest entries in memory, persists them, and reloads them after a restart", () => {
    const hw = new SimHardware({ seed: 1 })
    const config = { file: "/var/lib/keel/audit/audit.log", maxBytes: 1 << 20, keep: 2, memoryEntries: 3 }
    const entry = (n: number) => ({ atMillis: n, commonName: "alice", role: "os:admin", operation: `Op${n}`, arguments: "{}", result: "ok", durationMillis: 1 })
    const run = <A>(effect: Effect.Effect<A, never, Audit.Audit>) =>
      Effect.runSyncExit(Effect.scoped(Effect.gen(function*() {
        return yield* Effect.provide(effect, Audit.Audit.layer(config))
      })).pipe(Effect.provide(hw.layer()), Effect.provide(Path.layer)) as Effect.Effect<A>)
    const first = run(Effect.gen(function*() {
      const audit = yield* Audit.Audit
      for (let n = 1; n <= 5; n++) yield* audit.record(entry(n))
      return (yield* audit.tail(10)).map((e) => e.operation)
    }))
    expect(first).toEqual(Exit.succeed(["Op3", "Op4", "Op5"]))
    const reloaded = run(Effect.flatMap(Audit.Audit, (audit) => audit.tail(2)))
    expect(Exit.map(reloaded, (entries) => entries.map((e) => e.operation))).toEqual(Exit.succeed(["Op4", "Op5"]))
  })
})

describe("caller of a certificate", () => {
  const peer = (organizations: Array<string>) => ({ commonName: "c", organizations, serial: "01", notAfterMillis: 5 })
  it("takes exactly one KeelOS role from the Organization", () => {
    expect(Authorization.callerOf(peer(["os:operator"]))).toEqual({ commonName: "c", role: "os:operator", serial: "01", notAfterMillis: 5 })
    expect(Authorization.callerOf(peer(["acme", "os:reader"]))).toMatchObject({ role: "os:reader" })
    expect(Authorization.callerOf(peer(["acme"]))).toContain("carries no KeelOS role")
    expect(Authorization.callerOf(peer(["os:admin", "os:reader"]))).toContain("more than one")
    expect(Authorization.callerOf(peer(["OS:ADMIN"]))).toContain("carries no KeelOS role")
  })
})
