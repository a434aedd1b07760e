/**
 * osctl end to end against a node on the host: a real keel-init supervising shell services, the
 * real keel-agent process serving mutual TLS with a PKI osctl generated, and the bundled osctl:
 * contexts, status, services, logs, audit, fan-out, and each failure case with its exit code.
 */
import { type ChildProcess, spawn, spawnSync } from "node:child_process"
import * as fs from "node:fs"
import * as path from "node:path"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import * as YAML from "yaml"
import { type HostInit, makeEnvBlock, startInit, stopInit } from "../../agent/test/fixture.ts"

const root = path.resolve(import.meta.dirname, "..")
const bundle = path.join(root, "dist", "osctl.js")
const agentMain = path.resolve(root, "..", "agent", "src", "main.ts")

let init: HostInit
let agent: ChildProcess
let port = 0
let dir = ""
const env = () => ({ ...process.env, OSCTLCONFIG: path.join(dir, "osctl.json") })
const osctl = (...args: Array<string>) => spawnSync(process.execPath, [bundle, ...args], { encoding: "utf8", timeout: 30_000, env: env() })
const ok = (...args: Array<string>) => {
  const result = osctl(...args)
  if (result.status !== 0) throw new Error(`osctl ${args.join(" ")} exited ${result.status}: ${result.stderr}`)
  return result.stdout
}

beforeAll(async () => {
  spawnSync("npm", ["run", "build", "--silent"], { cwd: root, stdio: "ignore" })
  init = await startInit()
  dir = init.dir
  const pki = path.join(dir, "pki")
  ok("gen", "ca", "--out", pki, "--name", "e2e cluster")
  ok("gen", "node-cert", "--ip", "127.0.0.1", "--dns", "localhost", "--name", "node", "--ca-dir", pki, "--out", pki)
  for (const [role, name] of [["os:admin", "alice"], ["os:reader", "rita"]]) ok("gen", "cert", "--role", role!, "--name", name!, "--ca-dir", pki, "--out", pki)
  ok("gen", "ca", "--out", path.join(dir, "rogue"))
  ok("gen", "cert", "--role", "os:admin", "--name", "mallory", "--ca-dir", path.join(dir, "rogue"), "--out", path.join(dir, "rogue"))
  ok("gen", "cert", "--role", "os:admin", "--name", "old", "--days", "1", "--ca-dir", pki, "--out", pki)
  const config = {
    listen: { host: "127.0.0.1", port: 0 },
    tls: { caFile: path.join(pki, "ca.crt"), certFile: path.join(pki, "node.crt"), keyFile: path.join(pki, "node.key") },
    initSocket: init.socket,
    envBlock: makeEnvBlock(dir),
    audit: { file: path.join(dir, "audit.log"), maxBytes: 65536, keep: 2, memoryEntries: 100 }
  }
  fs.writeFileSync(path.join(dir, "agent.json"), JSON.stringify(config))
  agent = spawn(process.execPath, [agentMain, path.join(dir, "agent.json")], { stdio: ["ignore", "pipe", "pipe"] })
  port = await new Promise<number>((resolve, reject) => {
    let out = ""
    agent.stdout!.on("data", (d: Buffer) => {
      out += d
      const match = /serving the node API on [\d.]+:(\d+)/.exec(out)
      if (match) resolve(Number(match[1]))
    })
    agent.on("exit", (code) => reject(new Error(`agent exited ${code}`)))
  })
  const add = (name: string, who: string, ca = pki, from = pki) =>
    ok("config", "add", name, "-n", `127.0.0.1:${port}`, "--ca", path.join(ca, "ca.crt"), "--cert", path.join(from, `${who}.crt`), "--key", path.join(from, `${who}.key`))
  add("lab", "alice")
  add("readonly", "rita")
}, 60_000)

afterAll(async () => {
  agent?.kill("SIGTERM")
  await stopInit(init)
})

describe("osctl against a node", () => {
  it("keeps contexts in a 0600 file and never shows keys", () => {
    expect(fs.statSync(path.join(dir, "osctl.json")).mode & 0o777).toBe(0o600)
    const shown = ok("config", "show")
    expect(shown).toMatch(/\*\s+lab/)
    expect(shown).toContain("readonly")
    expect(shown).not.toContain("PRIVATE KEY")
  })

  it("shows status as text, json and yaml", () => {
    const text = ok("status")
    expect(text).toContain("A good, booted")
    expect(text).toContain("you          alice (os:admin)")
    expect(text).toMatch(/talker\s+running/)
    const json = JSON.parse(ok("status", "-o", "json")) as Array<{ node: string; result: { bootEnv: { active: string } } }>
    expect(json).toHaveLength(1)
    expect(json[0]!.node).toBe(`127.0.0.1:${port}`)
    expect(json[0]!.result.bootEnv.active).toBe("A")
    const yaml = ok("status", "-o", "yaml")
    expect(yaml).toContain(`- node: "127.0.0.1:${port}"`)
    expect(yaml).toMatch(/\n {6}active: A\n/)
  })

  it("warns in status when the client certificate expires soon", () => {
    const pki = path.join(dir, "pki")
    ok("gen", "cert", "--role", "os:reader", "--name", "shortlived", "--days", "5", "--ca-dir", pki, "--out", pki)
    ok("config", "add", "short", "-n", `127.0.0.1:${port}`, "--ca", path.join(pki, "ca.crt"), "--cert", path.join(pki, "shortlived.crt"), "--key", path.join(pki, "shortlived.key"))
    const result = osctl("status", "--context", "short")
    expect(result.status).toBe(0)
    expect(result.stderr).toMatch(/^WARNING: your client certificate expires in [45] days/)
    expect(osctl("status").stderr).toBe("")
  })

  it("fans out over nodes with a result per node and the worst exit code", () => {
    const result = osctl("whoami", "-n", `127.0.0.1:${port},127.0.0.1:1`, "-o", "json")
    expect(result.status).toBe(5)
    const outcomes = JSON.parse(result.stdout) as Array<{ node: string; result?: unknown; error?: { kind: string; message: string } }>
    expect(outcomes[0]).toMatchObject({ node: `127.0.0.1:${port}`, result: { commonName: "alice", role: "os:admin" } })
    expect(outcomes[1]).toMatchObject({ node: "127.0.0.1:1", error: { kind: "connection" } })
    expect(outcomes[1]!.error!.message).toContain("connection refused")
  })

  it("restarts a service and prints its logs", () => {
    expect(ok("service", "restart", "talker")).toContain("talker restarted")
    const logs = ok("logs", "talker", "--tail", "2")
    expect(logs).toBe("hello from talker\nsecond line\n")
    const kernel = ok("logs", "kernel", "--tail", "3").trim().split("\n")
    expect(kernel).toHaveLength(3)
    expect(osctl("logs", "kernel", "--since", "yesterday-ish").stderr.trim()).toContain("--since \"yesterday-ish\": give a duration ago")
    const unknown = osctl("service", "restart", "nope")
    expect(unknown.status).toBe(1)
    expect(unknown.stderr).toContain("no service named nope")
  })

  it("says which case a failure is, in one line, with its exit code", () => {
    const denied = osctl("service", "restart", "talker", "--context", "readonly")
    expect([denied.status, denied.stderr.trim().split("\n").length]).toEqual([4, 1])
    expect(denied.stderr).toContain("needs role os:operator or above; rita has os:reader")
    const unavailable = osctl("health")
    expect(unavailable.status).toBe(3)
    expect(unavailable.stderr).toContain("not available on this node")
    const refused = osctl("status", "-n", "127.0.0.1:1")
    expect(refused.status).toBe(5)
    expect(refused.stderr).toContain("connection refused")
    for (const text of [denied.stderr, unavailable.stderr, refused.stderr]) expect(text).not.toMatch(/\bat .*\.(ts|js):\d+/)
  })

  it("names a rejected TLS handshake and a foreign certificate before connecting", () => {
    // A context whose client certificate comes from another CA, but which trusts the node's CA.
    const rogue = path.join(dir, "rogue")
    const pki = path.join(dir, "pki")
    const add = osctl("config", "add", "rogue", "-n", `127.0.0.1:${port}`, "--ca", path.join(pki, "ca.crt"), "--cert", path.join(rogue, "mallory.crt"), "--key", path.join(rogue, "mallory.key"))
    expect(add.status).toBe(1)
    expect(add.stderr).toContain("not signed by the context's CA")
    // A context that trusts the rogue CA only: the node's own certificate is refused by osctl.
    const foreign = osctl("config", "add", "foreign", "-n", `127.0.0.1:${port}`, "--ca", path.join(rogue, "ca.crt"), "--cert", path.join(rogue, "mallory.crt"), "--key", path.join(rogue, "mallory.key"))
    expect(foreign.status).toBe(0)
    const tls = osctl("status", "--context", "foreign")
    expect(tls.status).toBe(5)
    expect(tls.stderr).toContain("TLS handshake rejected: the node's certificate is not signed by this context's CA")
  })

  it("rotates the node's certificate", () => {
    const pki = path.join(dir, "pki")
    ok("gen", "node-cert", "--ip", "127.0.0.1", "--name", "node-rotated", "--ca-dir", pki, "--out", path.join(dir, "new"))
    const text = ok("cert", "rotate", "--cert", path.join(dir, "new", "node-rotated.crt"), "--key", path.join(dir, "new", "node-rotated.key"))
    expect(text).toContain("the node now serves node-rotated")
    expect(ok("status")).toContain("certificate  node-rotated, 364 days left")
    const wrong = osctl("cert", "rotate", "--cert", path.join(dir, "new", "node-rotated.crt"), "--key", path.join(pki, "alice.key"))
    expect([wrong.status, wrong.stderr.trim()]).toEqual([1, `127.0.0.1:${port}: error: RotateCertificate failed on the node: the key does not belong to the certificate`])
  })

  it("shows the audit log of every call", () => {
    const json = JSON.parse(ok("audit", "-o", "json", "--tail", "500")) as Array<{ result: Array<{ commonName: string; operation: string; result: string }> }>
    const entries = json[0]!.result
    expect(entries.some((e) => e.commonName === "rita" && e.operation === "RestartService" && e.result.startsWith("denied"))).toBe(true)
    expect(entries.some((e) => e.commonName === "alice" && e.operation === "GetHealth" && e.result === "error: NotAvailable")).toBe(true)
  })

  it("refuses bad flags with usage and exit code 2", () => {
    expect(osctl("status", "-o", "xml").status).toBe(2)
    expect(osctl("logs").status).toBe(2)
    expect(osctl("network", "apply", "x.yaml", "--mode", "maybe").status).toBe(2)
  })

  it("network apply: checks its file and flags here, and hears that a host-mode init does not own the network", () => {
    const file = path.join(dir, "network.yaml")
    fs.writeFileSync(file, "interfaces:\n  - name: eth0\n    dhcp4: true\n")
    const timeout = osctl("network", "apply", file, "--timeout", "3")
    expect([timeout.status, timeout.stderr.trim()]).toEqual([2, "error: --timeout is seconds between 5 and 3600"])
    fs.writeFileSync(path.join(dir, "broken.yaml"), "interfaces: [\n")
    const broken = osctl("network", "apply", path.join(dir, "broken.yaml"))
    expect([broken.status, broken.stderr]).toEqual([2, expect.stringMatching(/^error: \/.*broken\.yaml, line 2: Flow sequence/)])
    // The agent here talks to a keel-init in host mode, which leaves the host's network alone.
    const hostMode = osctl("network", "apply", file, "--mode", "apply")
    expect([hostMode.status, hostMode.stderr.trim()]).toEqual([3, expect.stringMatching(/^127\.0\.0\.1:\d+: error: ConfigureNetwork is not available on this node: keel-init runs in host mode: the network is the host's, not keel-init's$/)])
    const confirm = osctl("network", "confirm")
    expect(confirm.status).toBe(3)
  })
})
