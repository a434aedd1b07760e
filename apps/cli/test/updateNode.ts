/**
 * A node for the update end-to-end tests on the host: a real keel-init, the real keel-agent
 * process with its update engine writing into slot files, a PKI made by the bundled osctl, and
 * osctl run asynchronously (the update servers of the tests live in the test process and must keep
 * answering while osctl waits).
 */
import { type ChildProcess, execFileSync, spawn, spawnSync } from "node:child_process"
import * as fs from "node:fs"
import * as path from "node:path"
import { freePort, type HostInit, makeEnvBlock, startInit, stopInit } from "../../agent/test/fixture.ts"

const root = path.resolve(import.meta.dirname, "..")
const bundle = path.join(root, "dist", "osctl.js")
const agentMain = path.resolve(root, "..", "agent", "src", "main.ts")

export interface OsctlResult {
  readonly status: number | null
  readonly stdout: string
  readonly stderr: string
}

export interface UpdateNode {
  readonly dir: string
  readonly metricsPort: number
  readonly port: () => number
  readonly osctl: (...args: Array<string>) => Promise<OsctlResult>
  /** osctl that must succeed. */
  readonly ok: (...args: Array<string>) => Promise<OsctlResult>
  /** The GRUB environment block, read with grub-editenv. */
  readonly bootEnv: () => Record<string, string>
  readonly startAgent: (version: string) => Promise<void>
  readonly stopAgent: () => Promise<void>
  readonly stop: () => Promise<void>
}

export interface UpdateNodeOptions {
  /** The release key the node trusts. */
  readonly trustedKey: { readonly id: string; readonly publicKey: string }
  /** Added to the agent's `update` section (e.g. `registries`). */
  readonly update?: Record<string, unknown>
}

export const startUpdateNode = async (options: UpdateNodeOptions): Promise<UpdateNode> => {
  spawnSync("npm", ["run", "build", "--silent"], { cwd: root, stdio: "ignore" })
  const init: HostInit = await startInit()
  const dir = init.dir
  let agent: ChildProcess | undefined
  let port = 0
  const env = () => ({ ...process.env, OSCTLCONFIG: path.join(dir, "osctl.json") })

  const osctl = (...args: Array<string>) =>
    new Promise<OsctlResult>((resolve) => {
      const child = spawn(process.execPath, [bundle, ...args], { env: env(), stdio: ["ignore", "pipe", "pipe"] })
      let stdout = ""
      let stderr = ""
      child.stdout.on("data", (d: Buffer) => (stdout += d))
      child.stderr.on("data", (d: Buffer) => (stderr += d))
      const timer = setTimeout(() => child.kill("SIGKILL"), 60_000)
      child.on("exit", (status) => {
        clearTimeout(timer)
        resolve({ status, stdout, stderr })
      })
    })
  const ok = async (...args: Array<string>) => {
    const result = await osctl(...args)
    if (result.status !== 0) throw new Error(`osctl ${args.join(" ")} exited ${result.status}: ${result.stderr}`)
    return result
  }
  const bootEnv = () =>
    Object.fromEntries(execFileSync("grub-editenv", [path.join(dir, "grubenv"), "list"], { encoding: "utf8" }).trim().split("\n").map((l) => l.split("=") as [string, string]))

  const startAgent = async (version: string) => {
    fs.writeFileSync(path.join(dir, "os-release"), `ID=keelos\nVERSION_ID=${version}\n`)
    const child = spawn(process.execPath, [agentMain, path.join(dir, "agent.json")], { stdio: ["ignore", "pipe", "pipe"] })
    let out = ""
    child.stderr!.on("data", (d: Buffer) => (out += d))
    port = await new Promise<number>((resolve, reject) => {
      child.stdout!.on("data", (d: Buffer) => {
        out += d
        const match = /serving the node API on [\d.]+:(\d+)/.exec(out)
        if (match) resolve(Number(match[1]))
      })
      child.on("exit", (code) => reject(new Error(`agent exited ${code}: ${out}`)))
    })
    agent = child
    await ok("config", "add", "lab", "-n", `127.0.0.1:${port}`, "--ca", path.join(dir, "pki", "ca.crt"), "--cert", path.join(dir, "pki", "alice.crt"), "--key", path.join(dir, "pki", "alice.key"))
  }

  const stopAgent = () =>
    new Promise<void>((resolve) => {
      if (agent === undefined || agent.exitCode !== null) return resolve()
      agent.on("exit", () => resolve())
      agent.kill("SIGTERM")
    })

  const pki = path.join(dir, "pki")
  await ok("gen", "ca", "--out", pki, "--name", "update e2e")
  await ok("gen", "node-cert", "--ip", "127.0.0.1", "--name", "node", "--ca-dir", pki, "--out", pki)
  await ok("gen", "cert", "--role", "os:admin", "--name", "alice", "--ca-dir", pki, "--out", pki)
  for (const slot of ["A", "B"]) fs.writeFileSync(path.join(dir, `slot-${slot}`), Buffer.alloc(4 * 1024 * 1024))
  fs.writeFileSync(path.join(dir, "trusted-keys.json"), JSON.stringify([{ id: options.trustedKey.id, development: true, publicKey: options.trustedKey.publicKey }]))
  const metricsPort = await freePort()
  const config = {
    listen: { host: "127.0.0.1", port: 0 },
    tls: { caFile: path.join(pki, "ca.crt"), certFile: path.join(pki, "node.crt"), keyFile: path.join(pki, "node.key") },
    initSocket: init.socket,
    envBlock: makeEnvBlock(dir),
    audit: { file: path.join(dir, "audit.log"), maxBytes: 65536, keep: 2, memoryEntries: 100 },
    metrics: { host: "127.0.0.1", port: metricsPort },
    update: {
      stateDir: path.join(dir, "update"),
      osRelease: path.join(dir, "os-release"),
      arch: "amd64",
      trustedKeysFile: path.join(dir, "trusted-keys.json"),
      health: { intervalMillis: 200, stabilityMillis: 1_000, timeoutMillis: 20_000 },
      checks: [],
      slotFiles: { A: path.join(dir, "slot-A"), B: path.join(dir, "slot-B") },
      ...options.update
    }
  }
  fs.writeFileSync(path.join(dir, "agent.json"), JSON.stringify(config))
  await startAgent("0.1.0")

  return {
    dir,
    metricsPort,
    port: () => port,
    osctl,
    ok,
    bootEnv,
    startAgent,
    stopAgent,
    stop: async () => {
      await stopAgent()
      await stopInit(init)
    }
  }
}
