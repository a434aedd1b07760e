/**
 * First trust end to end: a real keel-init supervising the real keel-agent, which starts with a
 * one-time token and no CA. osctl refuses a wrong token and a machine in the middle, bootstraps the
 * node with the right token, the agent restarts (under init) into the node API with mutual TLS, and
 * bootstrap is never served again.
 */
import { spawn, spawnSync } from "node:child_process"
import * as fs from "node:fs"
import * as net from "node:net"
import * as path from "node:path"
import * as tls from "node:tls"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { Effect } from "effect"
import { Pki } from "@keelos/pki"
import { freePort, type HostInit, makeEnvBlock, startInit, stopInit } from "../../agent/test/fixture.ts"

const root = path.resolve(import.meta.dirname, "..")
const bundle = path.join(root, "dist", "osctl.js")
const agentMain = path.resolve(root, "..", "agent", "src", "main.ts")
const token = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"

let init: HostInit
let port = 0
let dir = ""
const osctl = (...args: Array<string>) =>
  spawnSync(process.execPath, [bundle, ...args], { encoding: "utf8", timeout: 60_000, env: { ...process.env, OSCTLCONFIG: path.join(dir, "osctl.json") } })

const listening = async (p: number) => {
  for (let i = 0; i < 200; i++) {
    const up = await new Promise<boolean>((resolve) => {
      const socket = net.connect(p, "127.0.0.1", () => (socket.destroy(), resolve(true)))
      socket.on("error", () => resolve(false))
    })
    if (up) return
    await new Promise((r) => setTimeout(r, 100))
  }
  throw new Error(`nothing listens on ${p}`)
}

beforeAll(async () => {
  spawnSync("npm", ["run", "build", "--silent"], { cwd: root, stdio: "ignore" })
  port = await freePort()
  init = await startInit((d) => {
    fs.mkdirSync(path.join(d, "pki"))
    fs.mkdirSync(path.join(d, "config"))
    fs.writeFileSync(path.join(d, "config", "bootstrap-token"), `${token}\n`)
    const config = {
      listen: { host: "127.0.0.1", port },
      tls: { caFile: path.join(d, "pki", "ca.crt"), certFile: path.join(d, "pki", "node.crt"), keyFile: path.join(d, "pki", "node.key") },
      initSocket: path.join(d, "init.sock"),
      envBlock: makeEnvBlock(d),
      audit: { file: path.join(d, "audit.log"), maxBytes: 65536, keep: 2, memoryEntries: 100 },
      bootstrap: { tokenFile: path.join(d, "config", "bootstrap-token") }
    }
    fs.writeFileSync(path.join(d, "agent.json"), JSON.stringify(config))
    return [{
      kind: "service", name: "keel-agent", command: process.execPath, args: [agentMain, path.join(d, "agent.json")], env: {}, restart: "permanent",
      shutdownGraceMillis: 2_000, dependsOn: [], readiness: { _tag: "ProcessAlive" }, readyTimeoutMillis: 5_000,
      backoff: { initialMillis: 100, maxMillis: 500, resetAfterMillis: 60_000 }, optional: false
    }]
  })
  dir = init.dir
  fs.mkdirSync(path.join(dir, "cluster"))
  expect(osctl("gen", "ca", "--out", path.join(dir, "cluster")).status).toBe(0)
  expect(osctl("gen", "cert", "--role", "os:admin", "--name", "alice", "--ca-dir", path.join(dir, "cluster"), "--out", path.join(dir, "cluster")).status).toBe(0)
  await listening(port)
}, 60_000)

afterAll(() => stopInit(init), 20_000)

const bootstrapVia = (p: number, withToken: string) =>
  osctl("bootstrap", "--node", `127.0.0.1:${p}`, "--token", withToken, "--ca-dir", path.join(dir, "cluster"), "--name", "node-7", "--ip", "127.0.0.1")

describe("first trust", () => {
  it("refuses a wrong token: the node's proof does not match", () => {
    const result = bootstrapVia(port, "f".repeat(64))
    expect(result.status).toBe(1)
    expect(result.stderr.trim()).toBe(`error: 127.0.0.1:${port}: the node's proof does not match the token: wrong token, or not the node you think (someone in the middle)`)
    expect(osctl("bootstrap", "--node", `127.0.0.1:${port}`, "--token", "short", "--ca-dir", path.join(dir, "cluster")).stderr).toContain("32 to 128 lowercase hex digits")
  })

  it("sees through a machine in the middle that re-terminates TLS", async () => {
    const fake = await Effect.runPromise(Effect.gen(function*() {
      const pair = yield* Pki.generateKeyPair()
      return { key: pair.key, cert: yield* Pki.selfSigned(pair, "keelos-bootstrap", 1) }
    }))
    const proxyPort = await freePort()
    const proxy = tls.createServer({ key: fake.key, cert: fake.cert }, (client) => {
      const upstream = tls.connect({ host: "127.0.0.1", port, rejectUnauthorized: false }, () => client.pipe(upstream).pipe(client))
      upstream.on("error", () => client.destroy())
      client.on("error", () => upstream.destroy())
    })
    await new Promise<void>((resolve) => proxy.listen(proxyPort, "127.0.0.1", resolve))
    try {
      // Asynchronously: the proxy runs in this process.
      const result = await new Promise<{ code: number | null; stderr: string }>((resolve) => {
        const child = spawn(process.execPath, [bundle, "bootstrap", "--node", `127.0.0.1:${proxyPort}`, "--token", token, "--ca-dir", path.join(dir, "cluster"), "--name", "node-7", "--ip", "127.0.0.1"], {
          env: { ...process.env, OSCTLCONFIG: path.join(dir, "osctl.json") }
        })
        let stderr = ""
        child.stderr.on("data", (d: Buffer) => (stderr += d))
        child.on("exit", (code) => resolve({ code, stderr }))
      })
      expect(result.code).toBe(1)
      expect(result.stderr.trim()).toBe(`error: 127.0.0.1:${proxyPort}: the node answered with another certificate than the one it presented`)
    } finally {
      proxy.close()
    }
  })

  it("bootstraps with the right token; the agent comes back under init with mutual TLS, and never bootstraps again", async () => {
    const result = bootstrapVia(port, token)
    expect(result.stderr).toBe("")
    expect(result.stdout).toContain(`127.0.0.1:${port} bootstrapped: it trusts your cluster CA and serves node-7`)
    expect(fs.existsSync(path.join(dir, "config", "bootstrap-token"))).toBe(false)
    const cluster = path.join(dir, "cluster")
    expect(osctl("config", "add", "lab", "-n", `127.0.0.1:${port}`, "--ca", path.join(cluster, "ca.crt"), "--cert", path.join(cluster, "alice.crt"), "--key", path.join(cluster, "alice.key")).status).toBe(0)
    let status = osctl("status")
    for (let i = 0; i < 50 && status.status !== 0; i++) {
      await new Promise((r) => setTimeout(r, 200))
      status = osctl("status")
    }
    expect(status.stdout).toContain("certificate  node-7")
    expect(status.stdout).toMatch(/keel-agent\s+running/)
    const again = bootstrapVia(port, token)
    expect(again.status).not.toBe(0)
    expect(again.stderr).toContain("it is bootstrapped already; reach it with osctl config add")
    // The bootstrap calls are in the audit log, the refused ones with their reason, no secret in them.
    const audit = JSON.parse(osctl("audit", "-o", "json", "--tail", "100").stdout) as Array<{ result: Array<{ role: string; operation: string; result: string; arguments: string }> }>
    const calls = audit[0]!.result.filter((e) => e.role === "bootstrap token")
    expect(calls.map((e) => `${e.operation} ${e.result.split(":")[0]}`)).toEqual(expect.arrayContaining(["GetBootstrapInfo ok", "InitBootstrap ok"]))
    expect(JSON.stringify(calls)).not.toContain(token)
  }, 60_000)
})
