import { describe, expect, it } from "@effect/vitest"
import { Effect } from "effect"
import { TestClock } from "effect/testing"
import { RpcClientError } from "effect/rpc"
import { NodeApi } from "@keelos/api"
import { Pki } from "@keelos/pki"
import * as Remote from "../src/Remote.ts"
import { parseSince } from "../src/commands/node.ts"

const day = 24 * 3600_000

describe("osctl's local credential checks", () => {
  it.effect("names an expired client certificate, one not valid yet, and one from another CA", () =>
    Effect.gen(function*() {
      yield* TestClock.setTime(Date.UTC(2026, 0, 1))
      const ca = yield* Pki.makeCa({ name: "c", days: 3650 })
      const other = yield* Pki.makeCa({ name: "o", days: 3650 })
      const alice = yield* Pki.issue(ca, { usage: "client", commonName: "alice", organization: "os:admin" }, 10)
      const mallory = yield* Pki.issue(other, { usage: "client", commonName: "mallory", organization: "os:admin" }, 10)
      const context = (pair: Pki.CertifiedKey) => ({ nodes: ["n"], ca: ca.cert, ...pair })
      yield* Remote.checkCredentials("lab", context(alice))
      expect((yield* Effect.flip(Remote.checkCredentials("lab", context(mallory)))).reason).toContain("not signed by the context's CA")
      yield* TestClock.setTime(Date.UTC(2026, 0, 1) + 11 * day)
      expect((yield* Effect.flip(Remote.checkCredentials("lab", context(alice)))).reason).toContain("expired")
      yield* TestClock.setTime(Date.UTC(2025, 0, 1))
      expect((yield* Effect.flip(Remote.checkCredentials("lab", context(alice)))).reason).toContain("not valid before")
      const garbage = yield* Effect.flip(Remote.checkCredentials("lab", { nodes: [], ca: "x", cert: alice.cert, key: alice.key }))
      expect(garbage.reason).toContain("CA is not a PEM certificate")
    }))
})

describe("classifying a failure", () => {
  const transport = (code: string, message: string) =>
    new RpcClientError.RpcClientError({ reason: Object.assign(new Error("HttpError"), { cause: Object.assign(new Error(message), { code }) }) as never })
  it("tells the cases apart", () => {
    expect(Remote.classify(new NodeApi.Unauthorized({ operation: "Reboot", reason: "r" })).kind).toBe("unauthorized")
    expect(Remote.classify(new NodeApi.NotAvailable({ operation: "GetHealth", reason: "r" })).kind).toBe("not-available")
    expect(Remote.classify(new NodeApi.NodeFailure({ operation: "GetStatus", reason: "boot environment: gone" }))).toEqual({
      kind: "node", message: "GetStatus failed on the node: boot environment: gone"
    })
    expect(Remote.classify(transport("ECONNREFUSED", "connect ECONNREFUSED"))).toMatchObject({ kind: "connection", message: expect.stringContaining("refused") })
    expect(Remote.classify(transport("ERR_SSL_TLSV13_ALERT_CERTIFICATE_REQUIRED", "alert"))).toMatchObject({ kind: "tls", message: expect.stringContaining("none was sent") })
    expect(Remote.classify(transport("ECONNRESET", "socket hang up"))).toMatchObject({ kind: "tls", message: expect.stringContaining("does not trust") })
    expect(Remote.classify(transport("ERR_TLS_CERT_ALTNAME_INVALID", "x"))).toMatchObject({ kind: "tls", message: expect.stringContaining("does not name this address") })
  })
})

describe("--since", () => {
  it("reads durations ago and times", () => {
    const now = Date.UTC(2026, 10, 30, 12)
    expect(parseSince("10m", now)).toBe(now - 600_000)
    expect(parseSince("2h", now)).toBe(now - 7_200_000)
    expect(parseSince("2026-11-30T11:00:00Z", now)).toBe(Date.UTC(2026, 10, 30, 11))
    expect(parseSince("soon", now)).toBeUndefined()
  })
})
