/** Self-test of the registry harness: each mode starts, answers /v2/ as its auth says, and stops. */
import { execFile } from "node:child_process"
import * as crypto from "node:crypto"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { promisify } from "node:util"
import { describe, expect, it } from "vitest"
import { httpRequest, type RunningRegistry, startRegistry } from "./registry.ts"

const run = promisify(execFile)
const basic = (credentials: { readonly username: string; readonly password: string }) =>
  `Basic ${Buffer.from(`${credentials.username}:${credentials.password}`).toString("base64")}`

const withRegistry = async (mode: RunningRegistry["mode"], body: (registry: RunningRegistry) => Promise<void>) => {
  const registry = await startRegistry(mode)
  try {
    await body(registry)
  } finally {
    await registry.stop()
  }
  expect(fs.existsSync(registry.dataDir)).toBe(false)
  await expect(httpRequest(`${registry.url}/v2/`, { ca: registry.caPem })).rejects.toThrow()
}

const sha256 = (content: Buffer) => crypto.createHash("sha256").update(content).digest("hex")

/** A one-image OCI layout tagged v1 (a config and one uncompressed layer). */
const writeOciLayout = (dir: string) => {
  fs.mkdirSync(path.join(dir, "blobs", "sha256"), { recursive: true })
  const put = (content: Buffer) => {
    fs.writeFileSync(path.join(dir, "blobs", "sha256", sha256(content)), content)
    return { digest: `sha256:${sha256(content)}`, size: content.length }
  }
  const json = (value: object) => Buffer.from(JSON.stringify(value))
  const layer = put(Buffer.from("keelos registry harness layer"))
  const config = put(json({ architecture: "amd64", os: "linux", rootfs: { type: "layers", diff_ids: [layer.digest] } }))
  const manifest = put(json({
    schemaVersion: 2,
    mediaType: "application/vnd.oci.image.manifest.v1+json",
    config: { mediaType: "application/vnd.oci.image.config.v1+json", ...config },
    layers: [{ mediaType: "application/vnd.oci.image.layer.v1.tar", ...layer }]
  }))
  fs.writeFileSync(path.join(dir, "oci-layout"), json({ imageLayoutVersion: "1.0.0" }))
  fs.writeFileSync(path.join(dir, "index.json"), json({
    schemaVersion: 2,
    manifests: [{ mediaType: "application/vnd.oci.image.manifest.v1+json", ...manifest, annotations: { "org.opencontainers.image.ref.name": "v1" } }]
  }))
}

/** skopeo over TLS with the harness's CA and credentials: copies an image in, then lists its tag. */
const expectSkopeoRoundTrip = async (registry: RunningRegistry) => {
  const credentials = registry.credentials ?? expect.unreachable("no credentials")
  const certDir = registry.certDir ?? expect.unreachable("no cert dir")
  const creds = `${credentials.username}:${credentials.password}`
  const layout = fs.mkdtempSync(path.join(os.tmpdir(), "keelos-oci-layout-"))
  try {
    writeOciLayout(layout)
    await run("skopeo", ["--insecure-policy", "copy", "--dest-cert-dir", certDir, "--dest-creds", creds, `oci:${layout}:v1`, `docker://${registry.host}/keelos/os:v1`])
  } finally {
    fs.rmSync(layout, { recursive: true, force: true })
  }
  const listing = await run("skopeo", ["list-tags", "--cert-dir", certDir, "--creds", creds, `docker://${registry.host}/keelos/os`])
  expect(JSON.parse(listing.stdout).Tags).toEqual(["v1"])
}

/** Pushes a blob (POST then PUT with its digest) and checks it lands at blobPath. */
const pushBlob = async (registry: RunningRegistry, authorization: Record<string, string>) => {
  const blob = Buffer.from("keelos registry harness")
  const digest = `sha256:${sha256(blob)}`
  const started = await httpRequest(`${registry.url}/v2/keelos/os/blobs/uploads/`, { ca: registry.caPem, method: "POST", headers: authorization })
  expect(started.status).toBe(202)
  const location = new URL(String(started.headers.location), registry.url)
  location.searchParams.set("digest", digest)
  const put = await httpRequest(location.href, {
    ca: registry.caPem,
    method: "PUT",
    headers: { ...authorization, "content-type": "application/octet-stream" },
    body: blob
  })
  expect(put.status).toBe(201)
  expect(fs.readFileSync(registry.blobPath(digest))).toEqual(blob)
}

describe("registry harness", () => {
  it("http: /v2/ answers 200 without auth, and a pushed blob is stored at blobPath", { timeout: 30_000 }, () =>
    withRegistry("http", async (registry) => {
      expect(registry.url).toBe(`http://${registry.host}`)
      expect([registry.caPem, registry.certDir, registry.credentials]).toEqual([null, null, null])
      expect((await httpRequest(`${registry.url}/v2/`, { ca: null })).status).toBe(200)
      await pushBlob(registry, {})
      expect(registry.tokenRequests).toEqual([])
    }))

  it("htpasswd: /v2/ challenges for Basic auth and accepts the credentials; skopeo gets through TLS", { timeout: 30_000 }, () =>
    withRegistry("htpasswd", async (registry) => {
      const credentials = registry.credentials ?? expect.unreachable("no credentials")
      const anonymous = await httpRequest(`${registry.url}/v2/`, { ca: registry.caPem })
      expect(anonymous.status).toBe(401)
      expect(anonymous.headers["www-authenticate"]).toBe(`Basic realm="keelos-test"`)
      const wrong = await httpRequest(`${registry.url}/v2/`, { ca: registry.caPem, headers: { authorization: basic({ ...credentials, password: "wrong" }) } })
      expect(wrong.status).toBe(401)
      const authorized = await httpRequest(`${registry.url}/v2/`, { ca: registry.caPem, headers: { authorization: basic(credentials) } })
      expect(authorized.status).toBe(200)
      await pushBlob(registry, { authorization: basic(credentials) })
      await expectSkopeoRoundTrip(registry)
    }))

  it("token: /v2/ challenges for a Bearer token the realm grants per scope; skopeo gets through TLS", { timeout: 30_000 }, () =>
    withRegistry("token", async (registry) => {
      const credentials = registry.credentials ?? expect.unreachable("no credentials")
      const anonymous = await httpRequest(`${registry.url}/v2/`, { ca: registry.caPem })
      expect(anonymous.status).toBe(401)
      const challenge = /^Bearer realm="([^"]+)",service="([^"]+)"$/.exec(String(anonymous.headers["www-authenticate"]))
      const realm = challenge?.[1] ?? expect.unreachable(`challenge ${anonymous.headers["www-authenticate"]}`)
      expect(challenge?.[2]).toBe("keelos-registry")

      const tokenFor = async (authorization: Record<string, string>) => {
        const url = new URL(realm)
        url.searchParams.set("service", "keelos-registry")
        url.searchParams.append("scope", "repository:keelos/os:pull,push")
        const response = await httpRequest(url.href, { ca: registry.caPem, headers: authorization })
        return { status: response.status, token: response.status === 200 ? String(JSON.parse(response.body.toString()).token) : "" }
      }
      const bearer = (token: string) => ({ authorization: `Bearer ${token}` })

      const granted = await tokenFor({ authorization: basic(credentials) })
      expect(granted.status).toBe(200)
      expect((await httpRequest(`${registry.url}/v2/`, { ca: registry.caPem, headers: bearer(granted.token) })).status).toBe(200)
      await pushBlob(registry, bearer(granted.token))

      const pullOnly = await tokenFor({})
      expect(pullOnly.status).toBe(200)
      const refused = await httpRequest(`${registry.url}/v2/keelos/os/blobs/uploads/`, { ca: registry.caPem, method: "POST", headers: bearer(pullOnly.token) })
      expect(refused.status).toBe(401)
      expect((await tokenFor({ authorization: basic({ ...credentials, password: "wrong" }) })).status).toBe(401)

      await expectSkopeoRoundTrip(registry)
      expect(registry.tokenRequests.slice(0, 3)).toEqual([
        { account: "agent", scopes: ["repository:keelos/os:pull,push"] },
        { account: null, scopes: ["repository:keelos/os:pull,push"] },
        { account: "agent", scopes: ["repository:keelos/os:pull,push"] }
      ])
      expect(registry.tokenRequests.slice(3)).toContainEqual({ account: "agent", scopes: ["repository:keelos/os:pull"] })
    }))
})
