import { X509Certificate, createPrivateKey } from "node:crypto"
import { describe, expect, it } from "@effect/vitest"
import { Effect } from "effect"
import { TestClock } from "effect/testing"
import { Pki } from "../src/index.ts"

const day = 24 * 3600_000

describe("Pki", () => {
  it.effect("issues a client certificate carrying its role, chained to the CA (checked by node:crypto)", () =>
    Effect.gen(function*() {
      yield* TestClock.setTime(Date.UTC(2026, 10, 30))
      const ca = yield* Pki.makeCa({ name: "keelos cluster", days: 3650 })
      const admin = yield* Pki.issue(ca, { usage: "client", commonName: "alice", organization: "os:admin" }, 365)
      const info = yield* Pki.inspect(admin.cert)
      expect(info.commonName).toBe("alice")
      expect(info.organizations).toEqual(["os:admin"])
      expect(info.isCa).toBe(false)
      expect(info.notAfterMillis).toBe(Date.UTC(2026, 10, 30) + 365 * day)
      const leaf = new X509Certificate(admin.cert)
      expect(leaf.checkIssued(new X509Certificate(ca.cert))).toBe(true)
      expect(leaf.verify(new X509Certificate(ca.cert).publicKey)).toBe(true)
      expect(leaf.checkPrivateKey(createPrivateKey(admin.key))).toBe(true)
      expect(yield* Pki.signedBy(admin.cert, ca.cert)).toBe(true)
      expect((yield* Pki.inspect(ca.cert)).isCa).toBe(true)
    }))

  it.effect("a node certificate names its addresses; another CA's signature does not verify", () =>
    Effect.gen(function*() {
      const ca = yield* Pki.makeCa({ name: "one", days: 10 })
      const other = yield* Pki.makeCa({ name: "two", days: 10 })
      const node = yield* Pki.issue(ca, { usage: "server", commonName: "node-1", dnsNames: ["node-1.local"], ipAddresses: ["10.0.2.15", "127.0.0.1"] }, 30)
      const info = yield* Pki.inspect(node.cert)
      expect(info.dnsNames).toEqual(["node-1.local"])
      expect(info.ipAddresses).toEqual(["10.0.2.15", "127.0.0.1"])
      expect(new X509Certificate(node.cert).checkIP("10.0.2.15")).toBe("10.0.2.15")
      expect(yield* Pki.signedBy(node.cert, other.cert)).toBe(false)
    }))

  it.effect("signs a certificate for a key held elsewhere, and self-signs one for a fresh node", () =>
    Effect.gen(function*() {
      const ca = yield* Pki.makeCa({ name: "one", days: 10 })
      const pair = yield* Pki.generateKeyPair()
      const self = yield* Pki.selfSigned(pair, "fresh-node", 30)
      expect(new X509Certificate(self).checkPrivateKey(createPrivateKey(pair.key))).toBe(true)
      expect(new X509Certificate(self).verify(new X509Certificate(self).publicKey)).toBe(true)
      const cert = yield* Pki.issueFor(ca, { usage: "server", commonName: "node-9", dnsNames: [], ipAddresses: ["10.0.0.9"] }, 30, pair.publicKey)
      const leaf = new X509Certificate(cert)
      expect(leaf.checkPrivateKey(createPrivateKey(pair.key))).toBe(true)
      expect(leaf.checkIssued(new X509Certificate(ca.cert))).toBe(true)
      expect((yield* Effect.flip(Pki.issueFor(ca, { usage: "client", commonName: "x", organization: "os:admin" }, 3, "garbage"))).operation).toBe("read public key")
    }))

  it.effect("refuses bad requests with the reason", () =>
    Effect.gen(function*() {
      const ca = yield* Pki.makeCa({ name: "one", days: 10 })
      const leaf = yield* Pki.issue(ca, { usage: "client", commonName: "bob", organization: "os:reader" }, 10)
      const cases: Array<Effect.Effect<unknown, Pki.PkiError>> = [
        Pki.issue(ca, { usage: "server", commonName: "n", dnsNames: [], ipAddresses: ["10.0.300.1"] }, 10),
        Pki.issue(ca, { usage: "server", commonName: "n", dnsNames: ["bad name"], ipAddresses: [] }, 10),
        Pki.issue(ca, { usage: "server", commonName: "n", dnsNames: [], ipAddresses: [] }, 10),
        Pki.issue(ca, { usage: "client", commonName: "", organization: "os:admin" }, 10),
        Pki.issue(ca, { usage: "client", commonName: "x", organization: "os:admin" }, 0),
        Pki.issue(leaf, { usage: "client", commonName: "x", organization: "os:admin" }, 10),
        Pki.inspect("-----BEGIN CERTIFICATE-----\nnot base64\n-----END CERTIFICATE-----\n")
      ]
      const reasons = []
      for (const c of cases) reasons.push((yield* Effect.flip(c)).reason)
      expect(reasons[0]).toContain("not an IP address")
      expect(reasons[1]).toContain("not a DNS name")
      expect(reasons[2]).toContain("at least one")
      expect(reasons[3]).toContain("common name")
      expect(reasons[4]).toContain("validity")
      expect(reasons[5]).toContain("not a CA")
      expect(reasons[6]!.length).toBeGreaterThan(0)
    }))
})
