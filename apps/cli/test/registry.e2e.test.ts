/**
 * An update from an OCI registry end to end on the host: the real CNCF registry with TLS and token
 * auth, its CA and credentials given to the agent as files (as an operator would), a release
 * published signed with the library the image build uses, and osctl asking the real agent.
 */
import { generateKeyPairSync } from "node:crypto"
import * as fs from "node:fs"
import * as path from "node:path"
import { Effect } from "effect"
import { HttpClient } from "effect/http"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { Digest, Registry } from "@keelos/oci"
import { type RunningRegistry, startRegistry } from "@keelos/oci/testing"
import * as NodeHttp from "@keelos/platform-node/NodeHttp"
import { Publish, Signing } from "@keelos/release"
import { startUpdateNode, type UpdateNode } from "./updateNode.ts"

const keys = generateKeyPairSync("ed25519")
const publicKey = keys.publicKey.export({ type: "spki", format: "pem" }).toString()
const signer = { id: Signing.keyId(publicKey), development: true, privateKey: keys.privateKey.export({ type: "pkcs8", format: "pem" }).toString() }
const stranger = (() => {
  const k = generateKeyPairSync("ed25519")
  const pem = k.publicKey.export({ type: "spki", format: "pem" }).toString()
  return { id: Signing.keyId(pem), development: true, privateKey: k.privateKey.export({ type: "pkcs8", format: "pem" }).toString() }
})()
const imageBytes = new Uint8Array(2 * 1024 * 1024 + 77).map((_, i) => (i * 2654435761) >>> 24)

let registry: RunningRegistry
let node: UpdateNode

const publish = (repository: string, version: string, signWith: Publish.Signer) =>
  Effect.runPromise(Effect.provide(
    Effect.flatMap(HttpClient.HttpClient, (client) =>
      Publish.publish(
        Registry.make({ client, scheme: "https", registry: registry.host, credentials: registry.credentials }),
        repository,
        [version],
        [{
          fields: {
            version, channel: "stable", arch: "amd64", minCompatibleVersion: "0.1.0", notes: "e2e",
            releaseDate: new Date().toISOString(), expires: new Date(Date.now() + 86_400_000).toISOString()
          },
          image: { digest: Digest.ofBytes(imageBytes), size: imageBytes.length, read: (offset, length) => Effect.succeed(imageBytes.subarray(offset, offset + length)) }
        }],
        signWith
      )),
    NodeHttp.layerTrusting(registry.caPem!)
  ))

beforeAll(async () => {
  registry = await startRegistry("token")
  const dir = fs.mkdtempSync(path.join(registry.dataDir, "..", "node-files-"))
  const credentialsFile = path.join(dir, "credentials.json")
  fs.writeFileSync(credentialsFile, JSON.stringify({ [registry.host]: registry.credentials }))
  node = await startUpdateNode({
    trustedKey: { id: signer.id, publicKey },
    update: { registries: { caFile: registry.caFile, credentialsFile, allowUnsigned: false } }
  })
}, 120_000)

afterAll(async () => {
  await node?.stop()
  await registry?.stop()
})

describe("osctl update install oci://… against a real agent and registry", () => {
  it("refuses a release signed by a key the node does not trust, and leaves the boot environment alone", async () => {
    await publish("keelos/stranger", "0.2.0", stranger)
    const result = await node.osctl("update", "install", `oci://${registry.host}/keelos/stranger:0.2.0`, "--no-reboot")
    expect(result.status).toBe(1)
    expect(result.stderr).toContain(`is signed with ${stranger.id}; this node trusts ${signer.id}`)
    expect(node.bootEnv()["KEEL_NEXT"]).toBeUndefined()
  })

  it("installs the signed release with the operator's CA and credentials and puts it on trial", async () => {
    await publish("keelos/os", "0.2.0", signer)
    const result = await node.ok("update", "install", `oci://${registry.host}/keelos/os:0.2.0`, "--no-reboot")
    expect(result.stderr).toMatch(/downloading 0\.2\.0 100% \(2\.1 MB of 2\.1 MB\)\n.*staged 0\.2\.0\n.*activated 0\.2\.0/)
    expect(result.stdout).toContain("0.2.0 is on trial in the inactive slot")
    const slotB = fs.readFileSync(path.join(node.dir, "slot-B")).subarray(0, imageBytes.length)
    expect(Digest.ofBytes(slotB)).toBe(Digest.ofBytes(imageBytes))
    expect(node.bootEnv()).toMatchObject({ KEEL_ACTIVE: "A", KEEL_NEXT: "B" })
    // The node authenticated as the configured user, for pull on the repository.
    expect(registry.tokenRequests.some((r) => r.account === "agent" && r.scopes.includes("repository:keelos/os:pull"))).toBe(true)
    const state = JSON.parse(fs.readFileSync(path.join(node.dir, "update", "state.json"), "utf8")) as { slots: { B: { sha256: string } } }
    expect(`sha256:${state.slots.B.sha256}`).toBe(Digest.ofBytes(imageBytes))
  })
})
