/**
 * The registry client against the real CNCF distribution registry in its three auth modes, with
 * skopeo as the independent reader and writer: what we push, skopeo reads byte for byte; what
 * skopeo copies, we pull; bytes flipped in the registry's store are caught; downloads resume.
 */
import { execFile } from "node:child_process"
import * as fs from "node:fs"
import * as http from "node:http"
import { promisify } from "node:util"
import { Effect, Layer, Result, Stream } from "effect"
import { HttpClient, HttpClientRequest } from "effect/http"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import * as NodeHttp from "@keelos/platform-node/NodeHttp"
import { Digest, Manifest, MediaType, Reference, Registry } from "../src/index.ts"
import { type RegistryMode, type RunningRegistry, startRegistry } from "./registry.ts"

const run = promisify(execFile)

const httpLayer = (running: RunningRegistry): Layer.Layer<HttpClient.HttpClient> =>
  running.caPem === null ? NodeHttp.layer : NodeHttp.layerTrusting(running.caPem)

const session = (running: RunningRegistry, overrides: Partial<Registry.Options> = {}) =>
  Effect.map(HttpClient.HttpClient, (client) =>
    Registry.make({
      client,
      scheme: running.caPem === null ? "http" : "https",
      registry: running.host,
      credentials: running.credentials,
      chunkBytes: 64 * 1024,
      ...overrides
    }))

const runWith = <A, E>(running: RunningRegistry, effect: Effect.Effect<A, E, HttpClient.HttpClient>) =>
  Effect.runPromise(Effect.provide(effect, httpLayer(running)))

const runExitWith = <A, E>(running: RunningRegistry, effect: Effect.Effect<A, E, HttpClient.HttpClient>) =>
  Effect.runPromise(Effect.result(Effect.provide(effect, httpLayer(running))))

const skopeoFlags = (running: RunningRegistry) =>
  running.certDir === null
    ? ["--tls-verify=false"]
    : ["--cert-dir", running.certDir, ...(running.credentials === null ? [] : ["--creds", `${running.credentials.username}:${running.credentials.password}`])]

const bytesOf = (size: number, seed: number) => {
  const bytes = new Uint8Array(size)
  for (let i = 0; i < size; i++) bytes[i] = (i * 31 + seed * 7 + (i >> 8)) & 0xff
  return bytes
}

const blobSource = (bytes: Uint8Array): Registry.BlobSource => ({
  digest: Digest.ofBytes(bytes),
  size: bytes.length,
  read: (offset, length) => Effect.succeed(bytes.subarray(offset, offset + length))
})

/** An artifact like a release: empty config, one large layer (chunked upload), one small one. */
const pushArtifact = (registry: Registry.Registry, repository: string, tag: string, large: Uint8Array, small: Uint8Array) =>
  Effect.gen(function*() {
    yield* registry.pushBlob(repository, blobSource(Manifest.emptyConfigBytes))
    yield* registry.pushBlob(repository, blobSource(large))
    yield* registry.pushBlob(repository, blobSource(small))
    const manifest: Manifest.ImageManifest = {
      schemaVersion: 2,
      mediaType: MediaType.imageManifest,
      artifactType: "application/vnd.keelos.test.v1",
      config: Manifest.emptyConfig,
      layers: [Manifest.describe("application/vnd.keelos.test.large", large), Manifest.describe("application/vnd.keelos.test.small", small)],
      annotations: { "io.keelos.test": tag }
    }
    const manifestBytes = Manifest.encode(manifest)
    const pushed = yield* registry.putManifest(repository, Digest.ofBytes(manifestBytes), manifestBytes, MediaType.imageManifest)
    const index: Manifest.ImageIndex = {
      schemaVersion: 2,
      mediaType: MediaType.imageIndex,
      manifests: [Manifest.describe(MediaType.imageManifest, manifestBytes, { platform: { os: "linux", architecture: "amd64" } })]
    }
    const indexBytes = Manifest.encode(index)
    yield* registry.putManifest(repository, tag, indexBytes, MediaType.imageIndex)
    return { manifestBytes, manifestDigest: pushed.digest, indexBytes }
  })

const modes: ReadonlyArray<RegistryMode> = ["http", "htpasswd", "token"]

describe.each(modes)("registry client against distribution 2.8 (%s)", (mode) => {
  let running: RunningRegistry
  beforeAll(async () => {
    running = await startRegistry(mode)
  }, 30_000)
  afterAll(() => running?.stop())

  const large = bytesOf(300 * 1024 + 17, 1)
  const small = bytesOf(1000, 2)

  it("pushes an artifact (chunked and monolithic blobs, manifest, index) that skopeo reads back byte for byte", async () => {
    const { manifestBytes, manifestDigest, indexBytes } = await runWith(running, Effect.flatMap(session(running), (r) => pushArtifact(r, "keelos/os", "1.0.0", large, small)))
    const flags = skopeoFlags(running)
    const index = await run("skopeo", ["inspect", "--raw", ...flags, `docker://${running.host}/keelos/os:1.0.0`])
    expect(index.stdout).toBe(new TextDecoder().decode(indexBytes))
    const manifest = await run("skopeo", ["inspect", "--raw", ...flags, `docker://${running.host}/keelos/os@${manifestDigest}`])
    expect(manifest.stdout).toBe(new TextDecoder().decode(manifestBytes))
    // And our own reading: by tag the index, by digest the manifest, the blobs verified.
    const read = await runWith(running, Effect.gen(function*() {
      const registry = yield* session(running)
      const byTag = yield* registry.getManifest("keelos/os", "1.0.0")
      const byDigest = yield* registry.getManifest("keelos/os", manifestDigest)
      const blob = yield* registry.getBlob("keelos/os", Digest.ofBytes(large), 1 << 20)
      const head = yield* registry.headManifest("keelos/os", "1.0.0")
      const tags = yield* registry.listTags("keelos/os")
      return { byTag, byDigest, blob, head, tags }
    }))
    expect(read.byTag.mediaType).toBe(MediaType.imageIndex)
    expect(read.byTag.bytes).toEqual(indexBytes)
    expect(read.byDigest.mediaType).toBe(MediaType.imageManifest)
    expect(read.byDigest.digest).toBe(manifestDigest)
    expect(read.blob).toEqual(large)
    expect(read.head).toMatchObject({ digest: Digest.ofBytes(indexBytes), size: indexBytes.length })
    expect(read.tags).toContain("1.0.0")
  })

  it("pulls what skopeo copied (copy --all to another repository), per-arch manifests unchanged", async () => {
    await runWith(running, Effect.flatMap(session(running), (r) => pushArtifact(r, "keelos/source", "2.0.0", bytesOf(5000, 3), small)))
    const flags = skopeoFlags(running)
    const copyFlags = running.certDir === null
      ? ["--src-tls-verify=false", "--dest-tls-verify=false"]
      : ["--src-cert-dir", running.certDir, "--dest-cert-dir", running.certDir, "--src-creds", `${running.credentials!.username}:${running.credentials!.password}`, "--dest-creds", `${running.credentials!.username}:${running.credentials!.password}`]
    await run("skopeo", ["--insecure-policy", "copy", "--all", ...copyFlags, `docker://${running.host}/keelos/source:2.0.0`, `docker://${running.host}/keelos/mirror:2.0.0`])
    expect(flags.length).toBeGreaterThan(0)
    const pulled = await runWith(running, Effect.gen(function*() {
      const registry = yield* session(running)
      const index = Result.getOrThrow(Manifest.parseIndex((yield* registry.getManifest("keelos/mirror", "2.0.0")).bytes))
      const chosen = Result.getOrThrow(Manifest.selectPlatform(index, { os: "linux", architecture: "amd64" }))
      const manifest = yield* registry.getManifest("keelos/mirror", chosen.digest)
      const layers = Result.getOrThrow(Manifest.parseManifest(manifest.bytes)).layers
      const blobs = yield* Effect.forEach(layers, (layer) => registry.getBlob("keelos/mirror", layer.digest as Digest.Digest, 1 << 20))
      const original = yield* registry.getManifest("keelos/source", chosen.digest)
      return { chosen, manifest, original, blobs }
    }))
    expect(pulled.manifest.bytes).toEqual(pulled.original.bytes)
    expect(pulled.blobs[0]).toEqual(bytesOf(5000, 3))
    expect(pulled.blobs[1]).toEqual(small)
  })

  it("finds a referrer through the sha256-<hex> tag index (distribution 2.8 has no referrers API)", async () => {
    const found = await runWith(running, Effect.gen(function*() {
      const registry = yield* session(running)
      const { manifestDigest, manifestBytes } = yield* pushArtifact(registry, "keelos/signed", "3.0.0", bytesOf(100, 4), small)
      const note = bytesOf(64, 5)
      yield* registry.pushBlob("keelos/signed", blobSource(note))
      const referrer: Manifest.ImageManifest = {
        schemaVersion: 2,
        mediaType: MediaType.imageManifest,
        artifactType: "application/vnd.keelos.test.note",
        config: Manifest.emptyConfig,
        layers: [Manifest.describe("application/octet-stream", note)],
        subject: Manifest.describe(MediaType.imageManifest, manifestBytes)
      }
      const before = yield* registry.referrers("keelos/signed", manifestDigest)
      const attached = yield* registry.attachReferrer("keelos/signed", manifestDigest, Manifest.encode(referrer), "application/vnd.keelos.test.note")
      // Attaching the same referrer twice leaves one entry.
      yield* registry.attachReferrer("keelos/signed", manifestDigest, Manifest.encode(referrer), "application/vnd.keelos.test.note")
      const all = yield* registry.referrers("keelos/signed", manifestDigest)
      const other = yield* registry.referrers("keelos/signed", manifestDigest, "application/vnd.keelos.other")
      return { before, attached, all, other }
    }))
    expect(found.before).toEqual([])
    expect(found.all.map((d) => d.digest)).toEqual([found.attached])
    expect(found.all[0]?.artifactType).toBe("application/vnd.keelos.test.note")
    expect(found.other).toEqual([])
  })

  it("refuses a blob and a manifest whose stored bytes were flipped (the registry still answers 200)", async () => {
    const blob = bytesOf(4096, 6)
    const { manifestDigest } = await runWith(running, Effect.flatMap(session(running), (r) => pushArtifact(r, "keelos/tamper", "4.0.0", blob, bytesOf(10, 7))))
    for (const digest of [Digest.ofBytes(blob), manifestDigest]) {
      const file = running.blobPath(digest)
      const stored = fs.readFileSync(file)
      stored[100] = stored[100]! ^ 0x01
      fs.writeFileSync(file, stored)
    }
    const blobResult = await runExitWith(running, Effect.flatMap(session(running), (r) => r.getBlob("keelos/tamper", Digest.ofBytes(blob), 1 << 20)))
    expect(Result.isFailure(blobResult) && blobResult.failure).toMatchObject({ reason: "Integrity" })
    const manifestResult = await runExitWith(running, Effect.flatMap(session(running), (r) => r.getManifest("keelos/tamper", manifestDigest)))
    expect(Result.isFailure(manifestResult) && manifestResult.failure).toMatchObject({ reason: "Integrity" })
  })

  it("resumes a blob download with Range through the authorized client", async () => {
    const blob = bytesOf(200_000, 8)
    const tail = await runWith(running, Effect.gen(function*() {
      const registry = yield* session(running)
      yield* registry.pushBlob("keelos/resume", blobSource(blob))
      const client = registry.authorizedClient(Registry.pullScope("keelos/resume"))
      const response = yield* client.execute(HttpClientRequest.get(registry.blobUrl("keelos/resume", Digest.ofBytes(blob))).pipe(HttpClientRequest.setHeader("range", "bytes=123456-")))
      const chunks = yield* Stream.runCollect(response.stream)
      return { status: response.status, range: response.headers["content-range"], bytes: Buffer.concat(chunks) }
    }))
    expect(tail.status).toBe(206)
    expect(tail.range).toBe(`bytes 123456-199999/200000`)
    expect(new Uint8Array(tail.bytes)).toEqual(blob.subarray(123456))
  })

  if (mode !== "http") {
    it("without credentials: reads are refused or anonymous, pushes are refused, with a cause", async () => {
      const anonymous = await runExitWith(running, Effect.gen(function*() {
        const registry = yield* session(running, { credentials: null })
        return yield* registry.pushBlob("keelos/anon", blobSource(bytesOf(10, 9)))
      }))
      expect(Result.isFailure(anonymous) && anonymous.failure).toMatchObject({ reason: "Unauthorized" })
      const wrong = await runExitWith(running, Effect.flatMap(session(running, { credentials: { username: "agent", password: "wrong" } }), (r) => r.ping))
      expect(Result.isFailure(wrong) && wrong.failure).toMatchObject({ reason: "Unauthorized" })
      const tls = await Effect.runPromise(Effect.result(Effect.provide(Effect.flatMap(session(running), (r) => r.ping), NodeHttp.layer)))
      expect(Result.isFailure(tls) && tls.failure).toMatchObject({ reason: "Unreachable" })
    })
  }

  if (mode === "token") {
    it("asks the token server for the union of the challenged and the needed scopes", async () => {
      const seen = running.tokenRequests.length
      await runWith(running, Effect.flatMap(session(running), (r) => r.pushBlob("keelos/union", blobSource(bytesOf(10, 10)))))
      const asked = running.tokenRequests.slice(seen).filter((request) => request.scopes.length > 0)
      expect(asked.length).toBeGreaterThan(0)
      expect(asked.every((request) => request.account === "agent")).toBe(true)
      expect(asked.some((request) => request.scopes.includes("repository:keelos/union:pull,push"))).toBe(true)
    })
  }
})

describe("referrers API (OCI 1.1 registries; distribution 2.8 has none, so a minimal server answers here)", () => {
  it("uses the API when the registry has it, passes the artifactType filter, and never reads the fallback tag", async () => {
    const subject = Digest.ofBytes(new TextEncoder().encode("subject"))
    const signature = Manifest.describe(MediaType.imageManifest, new TextEncoder().encode("sig"), { artifactType: "application/vnd.keelos.os.signature.v1" })
    const other = Manifest.describe(MediaType.imageManifest, new TextEncoder().encode("sbom"), { artifactType: "application/spdx+json" })
    const seen: Array<string> = []
    const server = http.createServer((req, res) => {
      seen.push(req.url ?? "")
      if (req.url?.startsWith(`/v2/keelos/os/referrers/${subject}`)) {
        const wanted = new URL(req.url, "http://x").searchParams.get("artifactType")
        const manifests = [signature, other].filter((d) => wanted === null || d.artifactType === wanted)
        res.writeHead(200, { "content-type": MediaType.imageIndex })
        return void res.end(JSON.stringify({ schemaVersion: 2, mediaType: MediaType.imageIndex, manifests }))
      }
      res.writeHead(404).end()
    })
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve))
    const host = `127.0.0.1:${(server.address() as { port: number }).port}`
    try {
      const found = await Effect.runPromise(Effect.provide(
        Effect.gen(function*() {
          const registry = Registry.make({ client: yield* HttpClient.HttpClient, scheme: "http", registry: host })
          return {
            all: yield* registry.referrers("keelos/os", subject),
            signatures: yield* registry.referrers("keelos/os", subject, "application/vnd.keelos.os.signature.v1")
          }
        }),
        NodeHttp.layer
      ))
      expect(found.all.map((d) => d.digest)).toEqual([signature.digest, other.digest])
      expect(found.signatures.map((d) => d.digest)).toEqual([signature.digest])
      expect(seen.some((url) => url.includes("/manifests/sha256-"))).toBe(false)
      expect(seen).toContain(`/v2/keelos/os/referrers/${subject}?artifactType=application%2Fvnd.keelos.os.signature.v1`)
    } finally {
      server.close()
    }
  })
})

describe("references", () => {
  it("parses registry, repository, tag and digest, and refuses what the grammar does not allow", () => {
    const digest = `sha256:${"a".repeat(64)}`
    expect(Result.getOrThrow(Reference.parse("oci://registry.example:5000/keelos/os:1.2.3"))).toEqual({ scheme: "https", registry: "registry.example:5000", repository: "keelos/os", tag: "1.2.3", digest: null })
    expect(Result.getOrThrow(Reference.parse(`oci+http://127.0.0.1:5000/os@${digest}`))).toEqual({ scheme: "http", registry: "127.0.0.1:5000", repository: "os", tag: null, digest })
    expect(Result.getOrThrow(Reference.parse("oci://ghcr.io/acme/keelos")).tag).toBe("latest")
    expect(Reference.format(Result.getOrThrow(Reference.parse(`oci://r/a/b:t@${digest}`)))).toBe(`oci://r/a/b:t@${digest}`)
    for (const bad of ["https://r/a:b", "oci://r", "oci://r/Upper:1", "oci://r/a:b@sha256:12", "oci://r/a:-bad", "oci://bad host/a"]) {
      expect(Result.isFailure(Reference.parse(bad)), bad).toBe(true)
    }
  })
})
