/**
 * Installing from a real OCI registry (docker-registry 2.8 with token auth): the engine on a
 * simulated machine, the registry and its token server real. The OCI path must pass the same
 * gates and phases as an HTTP channel, and refuse what a registry cannot be trusted with.
 */
import { execFileSync } from "node:child_process"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import * as net from "node:net"
import { generateKeyPairSync } from "node:crypto"
import { Effect, Layer, Stream } from "effect"
import { HttpClient } from "effect/http"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { BlockDevice, HttpDownload } from "@keelos/platform"
import { Digest, Manifest, MediaType, Registry } from "@keelos/oci"
import { type RunningRegistry, startRegistry } from "@keelos/oci/testing"
import * as NodeHttp from "@keelos/platform-node/NodeHttp"
import { Artifact, Publish, Signing } from "@keelos/release"
import { TreeDelta } from "@keelos/delta"
import { imageOf, text } from "@keelos/squashfs/testing"
import { RegistrySource, SlotWriter, UpdateEngine } from "../src/index.ts"
import { engineOn, image, installAll, machine, releaseKey, sha256 } from "./helpers.ts"

const day = 86_400_000

interface ArchSpec {
  readonly arch: "amd64" | "arm64"
  readonly body: Uint8Array
}

const signer = { id: releaseKey.trusted.id, development: true, privateKey: releaseKey.privateKey }

const strangerKey = (() => {
  const { privateKey, publicKey } = generateKeyPairSync("ed25519")
  const pem = publicKey.export({ type: "spki", format: "pem" }).toString()
  return { id: Signing.keyId(pem), development: true, privateKey: privateKey.export({ type: "pkcs8", format: "pem" }).toString() }
})()

describe("installing from an OCI registry (docker-registry 2.8, TLS + token auth)", () => {
  let running: RunningRegistry
  let http: Layer.Layer<HttpClient.HttpClient>
  let access: RegistrySource.Access
  beforeAll(async () => {
    running = await startRegistry("token")
    http = NodeHttp.layerTrusting(running.caPem!)
    access = { credentials: (host) => Effect.succeed(host === running.host ? running.credentials : null), allowUnsigned: false }
  }, 30_000)
  afterAll(() => running?.stop())

  const session = Effect.map(HttpClient.HttpClient, (client) =>
    Registry.make({ client, scheme: "https", registry: running.host, credentials: running.credentials }))

  const blob = (bytes: Uint8Array): Registry.BlobSource => ({
    digest: Digest.ofBytes(bytes),
    size: bytes.length,
    read: (offset, length) => Effect.succeed(bytes.subarray(offset, offset + length))
  })

  const fields = (version: string, arch: "amd64" | "arm64", expiresMillis = Date.now() + 30 * day): Artifact.ReleaseFields => ({
    version,
    channel: "stable",
    arch,
    minCompatibleVersion: "0.1.0",
    releaseDate: new Date(Date.now() - day).toISOString(),
    expires: new Date(expiresMillis).toISOString(),
    notes: `KeelOS ${version}`
  })

  const publish = (repository: string, version: string, archs: ReadonlyArray<ArchSpec>, options: { signWith?: Publish.Signer; expiresMillis?: number } = {}) =>
    Effect.runPromise(Effect.provide(
      Effect.flatMap(session, (registry) =>
        Publish.publish(registry, repository, [version], archs.map((a) => ({ fields: fields(version, a.arch, options.expiresMillis), image: blob(a.body) })), options.signWith ?? signer)),
      http
    ))

  /** A manifest pushed without any signature referrer. */
  const publishUnsigned = (repository: string, version: string, body: Uint8Array) =>
    Effect.runPromise(Effect.provide(
      Effect.gen(function*() {
        const registry = yield* session
        yield* registry.pushBlob(repository, blob(Manifest.emptyConfigBytes))
        yield* registry.pushBlob(repository, blob(body))
        const bytes = Manifest.encode(Artifact.manifestOf(fields(version, "amd64"), { digest: Digest.ofBytes(body), size: body.length }))
        yield* registry.putManifest(repository, version, bytes, MediaType.imageManifest)
      }),
      http
    ))

  const install = (source: string, options: { version?: string; registries?: RegistrySource.Access; force?: boolean } = {}) => {
    const hardware = machine(3, 512 * 1024)
    const { layer } = engineOn(hardware, { version: options.version ?? "0.1.0", registries: options.registries ?? access, http })
    return Effect.runPromise(Effect.provide(
      Effect.gen(function*() {
        const outcome = yield* installAll({ source, force: options.force ?? false })
        const state = yield* (yield* UpdateEngine).state
        return { outcome, state }
      }),
      layer
    )).then((result) => ({ ...result, hardware }))
  }

  it("installs this node's architecture from a multi-arch index, through the same phases as a channel", async () => {
    const amd64 = image(11, 300_000)
    const published = await publish("keelos/os", "0.2.0", [{ arch: "amd64", body: amd64 }, { arch: "arm64", body: image(12, 200_000) }])
    const { outcome, state, hardware } = await install(`oci://${running.host}/keelos/os:0.2.0`)
    expect(outcome).toEqual(["checking", "downloading", "downloading", "staged", "activated"])
    expect(state.phase).toBe("activated")
    expect(state.toVersion).toBe("0.2.0")
    expect(state.slots.B).toMatchObject({ version: "0.2.0", sha256: sha256(amd64), sizeBytes: amd64.length })
    expect(sha256(hardware.disk.read("KEELOS_ROOT_B", 0, amd64.length))).toBe(sha256(amd64))
    // The signature went where a node looks for it, and names the key.
    expect(published.manifests.map((m) => m.arch)).toEqual(["amd64", "arm64"])
    // The token server was asked for pull on the repository (the node's anonymous-or-agent session).
    expect(running.tokenRequests.some((r) => r.scopes.includes("repository:keelos/os:pull"))).toBe(true)
  })

  it("refuses an index without this node's architecture, and a single-arch manifest of another one", async () => {
    const published = await publish("keelos/arm", "0.2.0", [{ arch: "arm64", body: image(13, 1000) }])
    const missing = await install(`oci://${running.host}/keelos/arm:0.2.0`)
    expect(missing.outcome).toMatchObject({ operation: "check", reason: "Refused" })
    expect(String((missing.outcome as { detail: string }).detail)).toContain("no linux/amd64 manifest in the index (it has linux/arm64)")
    expect(missing.state.phase).toBe("failed")
    const byDigest = await install(`oci://${running.host}/keelos/arm@${published.manifests[0]!.digest}`)
    expect(byDigest.outcome).toMatchObject({ reason: "Refused" })
    expect((byDigest.outcome as { detail: string }).detail).toContain("the release is built for arm64; this node is amd64")
  })

  it("refuses an unsigned artifact unless the node allows unsigned ones, and one signed by a key it does not trust", async () => {
    const body = image(14, 5000)
    await publishUnsigned("keelos/unsigned", "0.3.0", body)
    const unsigned = await install(`oci://${running.host}/keelos/unsigned:0.3.0`)
    expect(unsigned.outcome).toMatchObject({ reason: "Refused" })
    expect((unsigned.outcome as { detail: string }).detail).toContain("is not signed")
    const allowed = await install(`oci://${running.host}/keelos/unsigned:0.3.0`, { registries: { ...access, allowUnsigned: true } })
    expect(allowed.state.phase).toBe("activated")

    await publish("keelos/stranger", "0.3.0", [{ arch: "amd64", body }], { signWith: strangerKey })
    const stranger = await install(`oci://${running.host}/keelos/stranger:0.3.0`)
    expect(stranger.outcome).toMatchObject({ reason: "Refused" })
    expect((stranger.outcome as { detail: string }).detail).toContain(`is signed with ${strangerKey.id}`)
  })

  it("refuses a signature that does not match (a tampered signature blob), expired metadata and a downgrade", async () => {
    const body = image(15, 5000)
    const published = await publish("keelos/tampered", "0.4.0", [{ arch: "amd64", body }])
    // Rewrite the signature referrer with flipped signature bytes (the registry accepts anything).
    await Effect.runPromise(Effect.provide(
      Effect.gen(function*() {
        const registry = yield* session
        const descriptor = (yield* registry.referrers("keelos/tampered", published.manifests[0]!.digest))[0]!
        const original = (yield* registry.getManifest("keelos/tampered", descriptor.digest)).bytes
        const manifest = JSON.parse(new TextDecoder().decode(original)) as Manifest.ImageManifest
        const bad = Artifact.signatureOf(manifest.subject!, strangerKey.privateKey, signer)
        yield* registry.pushBlob("keelos/tampered", blob(bad.signature))
        yield* registry.attachReferrer("keelos/tampered", published.manifests[0]!.digest, Manifest.encode(bad.manifest), Artifact.signatureArtifactType)
        fs.rmSync(running.blobPath(descriptor.digest)) // the good signature is gone: only the forged one remains
      }),
      http
    ))
    const forged = await install(`oci://${running.host}/keelos/tampered:0.4.0`)
    expect(forged.outcome).toMatchObject({ reason: "Refused" })
    expect((forged.outcome as { detail: string }).detail).toMatch(/no signature of sha256:[0-9a-f]{64} verifies with a trusted key/)

    await publish("keelos/expired", "0.4.0", [{ arch: "amd64", body }], { expiresMillis: Date.now() - day })
    const expired = await install(`oci://${running.host}/keelos/expired:0.4.0`)
    expect((expired.outcome as { detail: string }).detail).toContain("expired")

    await publish("keelos/old", "0.1.5", [{ arch: "amd64", body }])
    const downgrade = await install(`oci://${running.host}/keelos/old:0.1.5`, { version: "0.2.0" })
    expect((downgrade.outcome as { detail: string }).detail).toContain("a downgrade needs --force")
  })

  it("fails Integrity when the registry serves a flipped image blob, and activates nothing", async () => {
    const body = image(16, 100_000)
    await publish("keelos/corrupt", "0.5.0", [{ arch: "amd64", body }])
    const file = running.blobPath(Digest.ofBytes(body))
    const stored = fs.readFileSync(file)
    stored[50_000] = stored[50_000]! ^ 0x80
    fs.writeFileSync(file, stored)
    const { outcome, state } = await install(`oci://${running.host}/keelos/corrupt:0.5.0`)
    expect(outcome).toMatchObject({ operation: "download", reason: "Integrity" })
    expect(state.phase).toBe("failed")
    expect(state.slots.B).toBeNull()
    expect(state.download).toBeNull()
  })

  it("resumes an interrupted blob download with a Range request, authorized for the repository", async () => {
    const body = image(17, 400_000)
    await publish("keelos/resume", "0.6.0", [{ arch: "amd64", body }])
    const hardware = machine(4, 512 * 1024)
    const seen: Array<string> = []
    const resumed = await Effect.runPromise(Effect.provide(
      Effect.scoped(Effect.gen(function*() {
        const target = yield* RegistrySource.resolve(
          { scheme: "https", registry: running.host, repository: "keelos/resume", tag: "0.6.0", digest: null },
          access,
          [releaseKey.trusted],
          { version: "0.1.0" as never, arch: "amd64", rolledBack: [] },
          false
        )
        const device = yield* (yield* BlockDevice.BlockDevices).open("KEELOS_ROOT_B")
        // The first run got 150000 bytes onto the device before the connection broke.
        yield* device.write(0, body.subarray(0, 150_000))
        const download = yield* HttpDownload.HttpDownload
        const tapped = HttpDownload.HttpDownload.of({
          get: (url, headers) => {
            seen.push(`${headers["range"] ?? "none"} ${headers["authorization"]?.split(" ")[0] ?? "anonymous"}`)
            return download.get(url, headers)
          }
        })
        const progress: Array<number> = []
        yield* SlotWriter.write(device, target, {
          resumeFrom: 150_000,
          bufferBytes: 16 * 1024,
          onProgress: (bytes) => Effect.sync(() => void progress.push(bytes)),
          onSynced: () => Effect.void
        }).pipe(Effect.provideService(HttpDownload.HttpDownload, tapped))
        return progress
      })),
      Layer.merge(hardware.layer(), http)
    ))
    expect(seen).toEqual(["bytes=150000- Bearer"])
    expect(resumed[0]).toBe(150_000 + 16 * 1024)
    expect(sha256(hardware.disk.read("KEELOS_ROOT_B", 0, body.length))).toBe(sha256(body))
  })

  it("an install whose blob transfer breaks mid-way resumes it instead of starting over", async () => {
    const body = image(18, 400_000)
    await publish("keelos/cut", "0.7.0", [{ arch: "amd64", body }])
    // A TCP proxy in front of the registry that cuts the first connection to pass 150 kB to the node.
    let cut = false
    let sent = 0
    const proxy = net.createServer((client) => {
      const upstream = net.connect(Number(running.host.split(":")[1]), "127.0.0.1")
      let carried = 0
      upstream.on("data", (chunk: Buffer) => {
        carried += chunk.length
        sent += chunk.length
        client.write(chunk)
        if (!cut && carried > 150_000) {
          cut = true
          client.destroy()
          upstream.destroy()
        }
      })
      client.on("data", (chunk: Buffer) => upstream.write(chunk))
      client.on("error", () => upstream.destroy())
      upstream.on("error", () => client.destroy())
      client.on("close", () => upstream.destroy())
    })
    await new Promise<void>((resolve) => proxy.listen(0, "127.0.0.1", resolve))
    const port = (proxy.address() as net.AddressInfo).port
    try {
      const proxied: RegistrySource.Access = { ...access, credentials: () => Effect.succeed(running.credentials) }
      const { outcome, state, hardware } = await install(`oci://127.0.0.1:${port}/keelos/cut:0.7.0`, { registries: proxied })
      expect(cut).toBe(true)
      expect(outcome).toEqual(["checking", "downloading", "downloading", "staged", "activated"])
      expect(state.slots.B).toMatchObject({ version: "0.7.0", sha256: sha256(body) })
      expect(sha256(hardware.disk.read("KEELOS_ROOT_B", 0, body.length))).toBe(sha256(body))
      // Resumed, not restarted: the proxy carried the image about once, not once and a half.
      expect(sent).toBeLessThan(body.length + 100_000)
    } finally {
      proxy.close()
    }
  })

  it("installs through a delta layer: the patch blob, not the image blob, is fetched", async () => {
    const v1 = image(19, 200_000)
    const v2 = v1.slice()
    for (let i = 0; i < v2.length; i += 7_919) v2[i] = v2[i]! ^ 0x33
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "keel-oci-delta-"))
    fs.writeFileSync(path.join(dir, "old"), v1)
    fs.writeFileSync(path.join(dir, "new"), v2)
    execFileSync("bsdiff", [path.join(dir, "old"), path.join(dir, "new"), path.join(dir, "patch")])
    const patch = new Uint8Array(fs.readFileSync(path.join(dir, "patch")))
    fs.rmSync(dir, { recursive: true, force: true })
    await Effect.runPromise(Effect.provide(
      Effect.flatMap(session, (registry) =>
        Publish.publish(registry, "keelos/delta", ["0.2.0"], [{
          fields: fields("0.2.0", "amd64"),
          image: blob(v2),
          deltas: [{ blob: blob(patch), fromVersion: "0.1.0", fromSha256: sha256(v1), fromSize: v1.length }]
        }], signer)),
      http
    ))
    // The registry keeps the image blob; remove it, so only a delta install can succeed.
    fs.rmSync(running.blobPath(Digest.ofBytes(v2)))
    const hardware = machine(5, 512 * 1024)
    hardware.disk.write("KEELOS_ROOT_A", 0, v1)
    const { layer } = engineOn(hardware, { version: "0.1.0", registries: access, http })
    const outcome = await Effect.runPromise(Effect.provide(
      Effect.gen(function*() {
        const engine = yield* UpdateEngine
        const progress = yield* Stream.runCollect(engine.install({ source: `oci://${running.host}/keelos/delta:0.2.0`, force: false, reboot: false, actor: "admin" }))
        return { progress, state: yield* engine.state }
      }),
      layer
    ))
    expect(outcome.state.phase).toBe("activated")
    expect(outcome.progress.find((p) => p.bytesSaved !== undefined)?.bytesSaved).toBe(v2.length - patch.length)
    expect(sha256(hardware.disk.read("KEELOS_ROOT_B", 0, v2.length))).toBe(sha256(v2))
  })

  it("installs through a content-delta layer of its own media type, rebuilt from the running image's files", async () => {
    const files = new Map([["usr/bin/node", text(150_000, 7)], ["etc/os-release", text(30, 8)]])
    const v1 = imageOf(files)
    const node2 = files.get("usr/bin/node")!.slice()
    for (let i = 0; i < node2.length; i += 5_000) node2[i] = node2[i]! ^ 0x11
    const v2 = imageOf(new Map([["usr/bin/node", node2], ["etc/os-release", text(30, 9)]]))
    const { delta } = Effect.runSync(TreeDelta.generate(TreeDelta.memory(v1), TreeDelta.memory(v2), { from: { sha256: sha256(v1), size: v1.length }, to: { sha256: sha256(v2), size: v2.length } }, { level: 3 }))
    await Effect.runPromise(Effect.provide(
      Effect.flatMap(session, (registry) =>
        Publish.publish(registry, "keelos/content", ["0.2.0"], [{
          fields: fields("0.2.0", "amd64"),
          image: blob(v2),
          deltas: [{ blob: blob(delta), fromVersion: "0.1.0", fromSha256: sha256(v1), fromSize: v1.length, format: "tree" }]
        }], signer)),
      http
    ))
    fs.rmSync(running.blobPath(Digest.ofBytes(v2)))
    const hardware = machine(6, 512 * 1024)
    hardware.disk.write("KEELOS_ROOT_A", 0, v1)
    const { layer } = engineOn(hardware, { version: "0.1.0", registries: access, http })
    const outcome = await Effect.runPromise(Effect.provide(
      Effect.gen(function*() {
        const engine = yield* UpdateEngine
        const progress = yield* Stream.runCollect(engine.install({ source: `oci://${running.host}/keelos/content:0.2.0`, force: false, reboot: false, actor: "admin" }))
        return { progress, state: yield* engine.state }
      }),
      layer
    ))
    expect(outcome.state.phase).toBe("activated")
    expect(outcome.progress.find((p) => p.bytesSaved !== undefined)?.bytesSaved).toBe(v2.length - delta.length)
    expect(sha256(hardware.disk.read("KEELOS_ROOT_B", 0, v2.length))).toBe(sha256(v2))
  })

  it("names a missing tag and a registry that refuses the node's credentials", async () => {
    const missing = await install(`oci://${running.host}/keelos/os:9.9.9`)
    expect(missing.outcome).toMatchObject({ operation: "check", reason: "BadRequest" })
    const denied = await install(`oci://${running.host}/keelos/os:0.2.0`, { registries: { credentials: () => Effect.succeed({ username: "agent", password: "wrong" }), allowUnsigned: false } })
    expect(denied.outcome).toMatchObject({ reason: "Refused" })
    expect((denied.outcome as { detail: string }).detail).toContain("refused the credentials of agent")
  })
})
