/**
 * The real CNCF distribution registry (Debian's `docker-registry` 2.8) on loopback for integration
 * tests, so the OCI client is checked against what registries actually run rather than a mock. Three
 * modes: plain HTTP; TLS with htpasswd basic auth; TLS with bearer tokens from a token server run
 * here in-process (it records every scope it is asked for). Each start gets its own temp dir, ports,
 * CA and credentials; `stop` kills everything and removes the dir.
 */
import { spawn, type ChildProcess } from "node:child_process"
import * as crypto from "node:crypto"
import * as fs from "node:fs"
import * as http from "node:http"
import * as https from "node:https"
import * as net from "node:net"
import * as os from "node:os"
import * as path from "node:path"
import { Pki } from "@keelos/pki"
import bcrypt from "bcryptjs"
import { Effect } from "effect"

export type RegistryMode = "http" | "htpasswd" | "token"

export interface RunningRegistry {
  readonly mode: RegistryMode
  /** "http://127.0.0.1:PORT" or "https://127.0.0.1:PORT" */
  readonly url: string
  /** "127.0.0.1:PORT" */
  readonly host: string
  /** The registry's storage root (filesystem driver), so a test can tamper with stored blobs. */
  readonly dataDir: string
  /** Absolute path of the stored data file of a blob: <dataDir>/docker/registry/v2/blobs/sha256/<xx>/<hex>/data */
  readonly blobPath: (digest: string) => string
  /** PEM of the CA that signed the registry's TLS certificate (and the token realm's), null for http. */
  readonly caPem: string | null
  readonly caFile: string | null
  /** For skopeo: a directory holding ca.crt (null for http). */
  readonly certDir: string | null
  /** User with pull+push+delete; null for http. Password plain text. */
  readonly credentials: { readonly username: string; readonly password: string } | null
  /**
   * token mode only: every request the token server got, in order, with the Basic-auth user (null if
   * anonymous) and its `scope` query params as sent. Empty array in other modes.
   */
  readonly tokenRequests: ReadonlyArray<{ readonly account: string | null; readonly scopes: ReadonlyArray<string> }>
  /** Kills the registry (and token server) and removes the temp dir. */
  readonly stop: () => Promise<void>
}

export interface HttpResponse {
  readonly status: number
  readonly headers: http.IncomingHttpHeaders
  readonly body: Buffer
}

/** One HTTP(S) request trusting `ca` (Node's fetch cannot take a CA per request). */
export const httpRequest = (
  url: string,
  options: { readonly ca: string | null; readonly method?: string; readonly headers?: Record<string, string>; readonly body?: Buffer }
): Promise<HttpResponse> =>
  new Promise((resolve, reject) => {
    const send = url.startsWith("https:") ? https.request : http.request
    const req = send(url, { method: options.method ?? "GET", headers: options.headers ?? {}, ...(options.ca === null ? {} : { ca: options.ca }) }, (res) => {
      const chunks: Array<Buffer> = []
      res.on("data", (chunk: Buffer) => chunks.push(chunk))
      res.on("end", () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks) }))
      res.on("error", reject)
    })
    req.on("error", reject)
    req.end(options.body)
  })

const username = "agent"
const service = "keelos-registry"
const issuer = "keelos-test-issuer"
const basicRealm = "keelos-test"
const grantedToUser = ["pull", "push", "delete"]
const grantedToAnonymous = ["pull"]

type TokenRequest = RunningRegistry["tokenRequests"][number]

interface Tls {
  readonly caPem: string
  readonly caFile: string
  readonly certDir: string
  readonly server: Pki.CertifiedKey
  readonly serverCertFile: string
  readonly serverKeyFile: string
  /** Signs tokens; issued by the CA, which is the registry's `rootcertbundle`. */
  readonly tokenSigner: Pki.CertifiedKey
}

const freePort = (): Promise<number> =>
  new Promise((resolve, reject) => {
    const server = net.createServer()
    server.once("error", reject)
    server.listen(0, "127.0.0.1", () => {
      const address = server.address()
      server.close(() => typeof address === "object" && address !== null ? resolve(address.port) : reject(new Error("no port")))
    })
  })

const sleep = (millis: number) => new Promise((resolve) => setTimeout(resolve, millis))

const makeTls = async (root: string): Promise<Tls> => {
  const ca = await Effect.runPromise(Pki.makeCa({ name: "keelos test registry CA", days: 1 }))
  const leaf = (commonName: string) =>
    Effect.runPromise(Pki.issue(ca, { usage: "server", commonName, dnsNames: ["localhost"], ipAddresses: ["127.0.0.1"] }, 1))
  const [server, tokenSigner] = await Promise.all([leaf("keelos test registry"), leaf("keelos test token signer")])
  const certDir = path.join(root, "certs")
  fs.mkdirSync(certDir)
  const tls = {
    caPem: ca.cert,
    caFile: path.join(certDir, "ca.crt"),
    certDir,
    server,
    serverCertFile: path.join(root, "server.crt"),
    serverKeyFile: path.join(root, "server.key"),
    tokenSigner
  }
  fs.writeFileSync(tls.caFile, ca.cert)
  fs.writeFileSync(tls.serverCertFile, server.cert)
  fs.writeFileSync(tls.serverKeyFile, server.key, { mode: 0o600 })
  return tls
}

const writeHtpasswd = async (root: string, password: string) => {
  const file = path.join(root, "htpasswd")
  fs.writeFileSync(file, `${username}:${await bcrypt.hash(password, 5)}\n`)
  return file
}

/** A compact JWS (ES256, raw r||s signature) carrying the signer's certificate in `x5c`. */
const signJwt = (signer: Pki.CertifiedKey, claims: object) => {
  const header = { typ: "JWT", alg: "ES256", x5c: [new crypto.X509Certificate(signer.cert).raw.toString("base64")] }
  const input = `${Buffer.from(JSON.stringify(header)).toString("base64url")}.${Buffer.from(JSON.stringify(claims)).toString("base64url")}`
  const signature = crypto.sign("sha256", Buffer.from(input), { key: signer.key, dsaEncoding: "ieee-p1363" })
  return `${input}.${signature.toString("base64url")}`
}

const parseBasic = (authorization: string | undefined) => {
  const match = /^Basic\s+(\S+)$/i.exec(authorization ?? "")
  if (match?.[1] === undefined) return null
  const decoded = Buffer.from(match[1], "base64").toString("utf8")
  const colon = decoded.indexOf(":")
  return colon < 0 ? null : { username: decoded.slice(0, colon), password: decoded.slice(colon + 1) }
}

/** `repository:<name>:<actions>` scopes (a param may hold several, space-separated) → the granted access. */
const grantAccess = (scopes: ReadonlyArray<string>, allowed: ReadonlyArray<string>) =>
  scopes.flatMap((param) => param.split(" ").filter((scope) => scope.length > 0)).flatMap((scope) => {
    const first = scope.indexOf(":")
    const last = scope.lastIndexOf(":")
    if (first < 0 || last === first || scope.slice(0, first) !== "repository") return []
    const actions = scope.slice(last + 1).split(",").filter((action) => allowed.includes(action))
    return [{ type: "repository", name: scope.slice(first + 1, last), actions }]
  })

const tokenResponse = (signer: Pki.CertifiedKey, account: string | null, scopes: ReadonlyArray<string>) => {
  const now = Math.floor(Date.now() / 1000)
  const token = signJwt(signer, {
    iss: issuer,
    sub: account ?? "",
    aud: service,
    exp: now + 300,
    nbf: now - 10,
    iat: now,
    jti: crypto.randomUUID(),
    access: grantAccess(scopes, account === null ? grantedToAnonymous : grantedToUser)
  })
  return { token, access_token: token, expires_in: 300, issued_at: new Date(now * 1000).toISOString() }
}

/** The token realm at https://127.0.0.1:PORT/token: `agent` + password gets pull,push,delete; anonymous gets pull. */
const startTokenServer = async (tls: Tls, password: string, requests: Array<TokenRequest>) => {
  const server = https.createServer({ cert: tls.server.cert, key: tls.server.key }, (req, res) => {
    const url = new URL(req.url ?? "/", "https://127.0.0.1")
    const scopes = url.searchParams.getAll("scope")
    const basic = parseBasic(req.headers.authorization)
    requests.push({ account: basic?.username ?? null, scopes })
    const reply = (status: number, body: object) => {
      res.writeHead(status, { "content-type": "application/json" })
      res.end(JSON.stringify(body))
    }
    if (url.pathname !== "/token") return reply(404, { error: "not found" })
    if (basic !== null && (basic.username !== username || basic.password !== password)) return reply(401, { error: "wrong credentials" })
    return reply(200, tokenResponse(tls.tokenSigner, basic?.username ?? null, scopes))
  })
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject)
    server.listen(0, "127.0.0.1", resolve)
  })
  const address = server.address()
  if (typeof address !== "object" || address === null) throw new Error("token server has no address")
  return {
    realm: `https://127.0.0.1:${address.port}/token`,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections()
        server.close(() => resolve())
      })
  }
}

/** The registry config; JSON is YAML, so no YAML writer is needed. */
const registryConfig = (dataDir: string, port: number, tls: Tls | null, auth: object | null) => ({
  version: "0.1",
  log: { level: "error", accesslog: { disabled: true } },
  storage: { filesystem: { rootdirectory: dataDir }, delete: { enabled: true } },
  http: { addr: `127.0.0.1:${port}`, ...(tls === null ? {} : { tls: { certificate: tls.serverCertFile, key: tls.serverKeyFile } }) },
  ...(auth === null ? {} : { auth })
})

const spawnRegistry = (configFile: string) => {
  const child = spawn("/usr/bin/docker-registry", ["serve", configFile], { stdio: ["ignore", "ignore", "pipe"] })
  const output = { stderr: "" }
  child.stderr?.setEncoding("utf8").on("data", (chunk: string) => {
    output.stderr += chunk
  })
  return { child, output }
}

const exited = (child: ChildProcess) => child.exitCode !== null || child.signalCode !== null

const kill = (child: ChildProcess) =>
  new Promise<void>((resolve) => {
    if (exited(child)) return resolve()
    child.once("exit", () => resolve())
    child.kill("SIGKILL")
  })

/** Polls `GET /v2/` every 50 ms for up to 10 s until it answers 200 or 401. */
const waitReady = async (url: string, ca: string | null, child: ChildProcess, output: { readonly stderr: string }) => {
  const deadline = Date.now() + 10_000
  while (Date.now() < deadline) {
    if (exited(child)) throw new Error(`docker-registry exited (${child.exitCode ?? child.signalCode}): ${output.stderr}`)
    const status = await httpRequest(`${url}/v2/`, { ca }).then((response) => response.status, () => null)
    if (status === 200 || status === 401) return
    await sleep(50)
  }
  throw new Error(`docker-registry did not answer GET /v2/ within 10 s: ${output.stderr}`)
}

const blobPathIn = (dataDir: string) => (digest: string) => {
  const match = /^sha256:([0-9a-f]{64})$/.exec(digest)
  if (match?.[1] === undefined) throw new Error(`not a sha256 digest: ${digest}`)
  return path.join(dataDir, "docker", "registry", "v2", "blobs", "sha256", match[1].slice(0, 2), match[1], "data")
}

const startOnce = async (mode: RegistryMode): Promise<RunningRegistry> => {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), "keelos-registry-"))
  const cleanups: Array<() => Promise<void>> = [async () => fs.rmSync(root, { recursive: true, force: true })]
  const cleanUp = async () => {
    for (const cleanup of cleanups.splice(0).reverse()) await cleanup()
  }
  try {
    const dataDir = path.join(root, "data")
    fs.mkdirSync(dataDir)
    const tls = mode === "http" ? null : await makeTls(root)
    const password = crypto.randomBytes(18).toString("base64url")
    const tokenRequests: Array<TokenRequest> = []
    let auth: object | null = null
    if (mode === "htpasswd") auth = { htpasswd: { realm: basicRealm, path: await writeHtpasswd(root, password) } }
    if (mode === "token" && tls !== null) {
      const tokenServer = await startTokenServer(tls, password, tokenRequests)
      cleanups.push(tokenServer.close)
      auth = { token: { realm: tokenServer.realm, service, issuer, rootcertbundle: tls.caFile } }
    }
    const port = await freePort()
    const configFile = path.join(root, "config.yml")
    fs.writeFileSync(configFile, JSON.stringify(registryConfig(dataDir, port, tls, auth), null, 2))
    const { child, output } = spawnRegistry(configFile)
    const killOnExit = () => child.kill("SIGKILL")
    process.once("exit", killOnExit)
    cleanups.push(async () => {
      process.off("exit", killOnExit)
      await kill(child)
    })
    const host = `127.0.0.1:${port}`
    const url = `${tls === null ? "http" : "https"}://${host}`
    await waitReady(url, tls?.caPem ?? null, child, output)
    return {
      mode,
      url,
      host,
      dataDir,
      blobPath: blobPathIn(dataDir),
      caPem: tls?.caPem ?? null,
      caFile: tls?.caFile ?? null,
      certDir: tls?.certDir ?? null,
      credentials: mode === "http" ? null : { username, password },
      tokenRequests,
      stop: cleanUp
    }
  } catch (error) {
    await cleanUp()
    throw error
  }
}

/** Starts a registry in `mode`, retrying once (another process may take the free port before it binds). */
export const startRegistry = (mode: RegistryMode): Promise<RunningRegistry> => startOnce(mode).catch(() => startOnce(mode))
