import { describe, expect, it } from "vitest"
import { Effect, Exit, FileSystem, Path } from "effect"
import { Pki } from "@keelos/pki"
import { SimHardware } from "@keelos/platform-sim"
import { Audit, Authorization, NodeCertificate } from "../src/index.ts"

describe("audit", () => {
  it("redacts secrets and cuts long arguments", () => {
    expect(Audit.summarize({ service: "kubelet", token: "s3cret", nested: { privateKey: "k" } })).toBe(
      "{\"service\":\"kubelet\",\"token\":\"[redacted]\",\"nested\":{\"privateKey\":\"[redacted]\"}}"
    )
    expect(Audit.summarize({ reason: "x".repeat(1000) }).length).toBe(256)
    expect(Audit.summarize(undefined)).toBe("{}")
    const pem = "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n"
    expect(Audit.summarize({ certificate: pem, bundle: "-----BEGIN PRIVATE KEY-----\nabc\n-----END PRIVATE KEY-----\n" })).toBe(
      `{"certificate":"[PEM, ${pem.length} bytes]","bundle":"[redacted]"}`
    )
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

const pairs = await Effect.runPromise(Effect.gen(function*() {
  const ca = yield* Pki.makeCa({ name: "c", days: 5 })
  const issue = (cn: string) => Pki.issue(ca, { usage: "server", commonName: cn, dnsNames: [], ipAddresses: ["127.0.0.1"] }, 5)
  return { old: yield* issue("old"), fresh: yield* issue("fresh") }
}))

describe("certificate rotation after a crash", () => {
  const files = { caFile: "/var/lib/keel/pki/ca.crt", certFile: "/var/lib/keel/pki/node.crt", keyFile: "/var/lib/keel/pki/node.key" }
  const setup = (state: Record<string, string>) =>
    Effect.gen(function*() {
      const fs = yield* FileSystem.FileSystem
      yield* fs.makeDirectory("/var/lib/keel/pki", { recursive: true })
      for (const [file, text] of Object.entries(state)) yield* fs.writeFileString(file, text)
      const recovered = yield* NodeCertificate.recover(files)
      const read = (file: string) => fs.readFileString(file).pipe(Effect.orElseSucceed(() => "absent"))
      return { recovered, cert: yield* read(files.certFile), key: yield* read(files.keyFile), pending: yield* read(`${files.certFile}.next`) }
    })
  const run = <A, E>(effect: Effect.Effect<A, E, FileSystem.FileSystem>) =>
    Effect.runSync(Effect.scoped(effect).pipe(Effect.provide(new SimHardware({ seed: 9 }).layer())) as Effect.Effect<A>)

  it("completes a rotation whose key was already replaced", () => {
    const { old, fresh } = pairs
    const after = run(setup({ [files.certFile]: old.cert, [files.keyFile]: fresh.key, [`${files.certFile}.next`]: fresh.cert }))
    expect(after).toEqual({ recovered: true, cert: fresh.cert, key: fresh.key, pending: "absent" })
  })

  it("keeps the old pair when the crash came before the key was replaced", () => {
    const { old, fresh } = pairs
    const after = run(setup({ [files.certFile]: old.cert, [files.keyFile]: old.key, [`${files.certFile}.next`]: fresh.cert, [`${files.keyFile}.next`]: fresh.key }))
    expect(after).toEqual({ recovered: false, cert: old.cert, key: old.key, pending: "absent" })
  })
})
