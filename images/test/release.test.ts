/**
 * The published update verifies the way a node will check it: against the trusted keys the image
 * itself carries (read out of the built SquashFS with unsquashfs), with the image's real digest.
 */
import { createHash } from "node:crypto"
import { execFileSync } from "node:child_process"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { describe, expect, it } from "vitest"
import { Effect, Exit } from "effect"
import { Release } from "@keelos/release"
import { ensureImage } from "../src/build.ts"
import { publish } from "../src/release.ts"

describe("release artifact", () => {
  it("is signed by a key the image trusts, names its image's digest, and says when the key is a development key", () => {
    const image = ensureImage()
    const out = fs.mkdtempSync(path.join(os.tmpdir(), "keel-release-"))
    const now = Date.now()
    const { dir } = publish({ osImage: image.osImage, version: "0.1.0", out, channel: "stable", arch: "amd64", minCompatibleVersion: "0.1.0", expiresDays: 30, notes: "test", nowMillis: now })
    const extracted = path.join(out, "extracted")
    execFileSync("unsquashfs", ["-q", "-d", extracted, image.osImage, "etc/keel/trusted-keys.json"])
    const trusted = JSON.parse(fs.readFileSync(path.join(extracted, "etc", "keel", "trusted-keys.json"), "utf8"))
    const bytes = fs.readFileSync(path.join(dir, "latest.json"))
    const verified = Effect.runSyncExit(Release.verify(bytes, fs.readFileSync(path.join(dir, "latest.json.sig")), trusted, now))
    if (!Exit.isSuccess(verified)) throw new Error(String(verified.cause))
    expect(verified.value.signing_key.development).toBe(process.env["KEELOS_SIGNING_KEY"] === undefined)
    const published = fs.readFileSync(path.join(dir, verified.value.image.url))
    expect(verified.value.image.sha256).toBe(createHash("sha256").update(published).digest("hex"))
    expect(verified.value.image.size).toBe(published.length)
    expect(Exit.isFailure(Effect.runSyncExit(Release.verify(bytes, fs.readFileSync(path.join(dir, "latest.json.sig")), trusted, now + 31 * 86_400_000)))).toBe(true)
    fs.rmSync(out, { recursive: true, force: true })
  })
})
