import { execFileSync } from "node:child_process"
import { generateKeyPairSync } from "node:crypto"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { describe, expect, it } from "vitest"
import { Cause, Effect, Exit, Option, Schema } from "effect"
import { ReleaseMetadata } from "@keelos/domain"
import { Release, Signing } from "../src/index.ts"

const keyPair = () => {
  const { privateKey, publicKey } = generateKeyPairSync("ed25519")
  return { key: privateKey.export({ type: "pkcs8", format: "pem" }).toString(), publicKey: publicKey.export({ type: "spki", format: "pem" }).toString() }
}
const release = keyPair()
const id = Signing.keyId(release.publicKey)
const trusted = [{ id, development: true, publicKey: release.publicKey }]
const now = Date.UTC(2026, 10, 30)

const metadata = Schema.decodeUnknownSync(ReleaseMetadata.ReleaseMetadata)({
  schema: 1, version: "0.2.0", channel: "stable", arch: "amd64", min_compatible_version: "0.1.0",
  release_date: "2026-11-30T00:00:00Z", expires: "2026-12-30T00:00:00Z", release_notes: "",
  image: { url: "os-0.2.0.img", size: 1, sha256: "c".repeat(64) }, deltas: [], signing_key: { id, development: true }
})
const bytes = Release.encode(metadata)
const signature = Signing.sign(bytes, release.key)
const verify = (b: Uint8Array, s: Uint8Array, keys = trusted, at = now) => Effect.runSyncExit(Release.verify(b, s, keys, at))
const reason = (exit: Exit.Exit<unknown, Release.ReleaseRefused>) =>
  Exit.isFailure(exit) ? Option.match(Cause.findErrorOption(exit.cause), { onNone: () => "defect", onSome: (e) => e.reason }) : "ok"

describe("signed release metadata", () => {
  it("verifies what was signed, and openssl agrees the signature is plain Ed25519", () => {
    expect(Exit.isSuccess(verify(bytes, signature))).toBe(true)
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "keel-release-"))
    fs.writeFileSync(path.join(dir, "latest.json"), bytes)
    fs.writeFileSync(path.join(dir, "latest.json.sig"), signature)
    fs.writeFileSync(path.join(dir, "key.pub"), release.publicKey)
    const out = execFileSync("openssl", ["pkeyutl", "-verify", "-pubin", "-inkey", path.join(dir, "key.pub"), "-rawin", "-in", path.join(dir, "latest.json"), "-sigfile", path.join(dir, "latest.json.sig")], { encoding: "utf8" })
    expect(out).toContain("Signature Verified Successfully")
  })

  it("refuses a flipped byte, another key, expired metadata, and a signed document that is not metadata", () => {
    const flipped = Uint8Array.from(bytes)
    flipped[flipped.length - 5]! ^= 1
    expect(reason(verify(flipped, signature))).toBe("BadSignature")
    const other = keyPair()
    expect(reason(verify(bytes, Signing.sign(bytes, other.key)))).toBe("BadSignature")
    expect(reason(verify(bytes, signature, [{ id: Signing.keyId(other.publicKey), development: true, publicKey: other.publicKey }]))).toBe("UnknownKey")
    expect(reason(verify(bytes, signature, trusted, Date.UTC(2027, 0, 1)))).toBe("Expired")
    const junk = new TextEncoder().encode(JSON.stringify({ signing_key: { id }, version: "x" }))
    expect(reason(verify(junk, Signing.sign(junk, release.key)))).toBe("Malformed")
    expect(reason(verify(bytes, signature, [{ ...trusted[0]!, development: false }]))).toBe("Malformed")
  })

  it("names keys by their public key", () => {
    expect(id).toMatch(/^[0-9a-f]{16}$/)
    expect(Signing.keyId(Signing.publicKeyOf(release.key))).toBe(id)
    expect(() => Signing.keyId(generateKeyPairSync("ec", { namedCurve: "P-256" }).publicKey.export({ type: "spki", format: "pem" }).toString())).toThrow("not an Ed25519 key")
  })
})
