/**
 * `osctl cluster create --nodes 2` the way an operator runs it: two nodes boot in the background,
 * one osctl context reaches both over mutual TLS, each node has its own name, certificate and
 * address on the private network, and the nodes reach each other there (node 2 fetches from node
 * 1's metrics server, which answers). `osctl cluster destroy` powers both off through the API and
 * leaves nothing: no QEMU, no files, no context.
 */
import { spawnSync } from "node:child_process"
import * as fs from "node:fs"
import * as path from "node:path"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { image, resultsDir, root } from "../src/Image.ts"
import { accelerator, freePort } from "../src/Qemu.ts"

const results = resultsDir("cluster")
const state = path.join(results, "state")
const configFile = path.join(results, "osctl.json")
const osctlMain = path.join(root, "apps", "cli", "src", "main.ts")
const name = "vmt"
let basePort = 0

const osctl = (...args: Array<string>) =>
  spawnSync(process.execPath, [osctlMain, ...args], { encoding: "utf8", timeout: 600_000, env: { ...process.env, OSCTLCONFIG: configFile } })

const json = <A>(result: ReturnType<typeof osctl>): A => {
  if (result.status !== 0) throw new Error(`osctl exited ${result.status}: ${result.stderr}`)
  return JSON.parse(result.stdout) as A
}

const qemuOf = (pidFile: string) => {
  const pid = fs.existsSync(pidFile) ? Number(fs.readFileSync(pidFile, "utf8").trim()) : 0
  return pid > 0 && fs.existsSync(`/proc/${pid}/cmdline`) && fs.readFileSync(`/proc/${pid}/cmdline`, "utf8").includes(pidFile) ? pid : null
}

let created: { nodes: Array<{ name: string; endpoint: string; privateAddress: string }> }
let createOutput = ""

beforeAll(() => {
  const built = image()
  fs.rmSync(results, { recursive: true, force: true })
  fs.mkdirSync(results, { recursive: true })
  return freePort().then((port) => {
    basePort = port
    const result = osctl("cluster", "create", "--nodes", "2", "--name", name, "--disk", built.qcow2, "--state", state, "--base-port", String(basePort), "-o", "json")
    createOutput = result.stderr
    created = json(result)
  })
}, 900_000)

afterAll(() => {
  // A failed test must not leave nodes running: pull the plug on whatever is left.
  if (fs.existsSync(path.join(state, name))) osctl("cluster", "destroy", "--name", name, "--state", state, "--force")
})

describe(`osctl cluster on booted nodes (${accelerator()})`, () => {
  it("starts two nodes in the background and waits until both agents answer", () => {
    expect(createOutput).toMatch(/vmt-1 answers over mutual TLS after \d+\.\d s/)
    expect(createOutput).toMatch(/vmt-2 answers over mutual TLS after \d+\.\d s/)
    expect(created.nodes).toEqual([
      { name: "vmt-1", endpoint: `127.0.0.1:${basePort}`, privateAddress: "10.5.0.11/24", console: path.join(state, name, "vmt-1.console.log") },
      { name: "vmt-2", endpoint: `127.0.0.1:${basePort + 1}`, privateAddress: "10.5.0.12/24", console: path.join(state, name, "vmt-2.console.log") }
    ])
    for (const node of ["vmt-1", "vmt-2"]) expect(qemuOf(path.join(state, name, `${node}.pid`))).not.toBeNull()
    const shown = json<Array<{ name: string; nodes: Array<{ name: string; state: string }> }>>(osctl("cluster", "show", "--state", state, "-o", "json"))
    expect(shown).toMatchObject([{ name, nodes: [{ name: "vmt-1", state: "ready" }, { name: "vmt-2", state: "ready" }] }])
  })

  it("reaches both nodes through one context: each with its own name and certificate", () => {
    const status = json<Array<{ node: string; result: { hostname: string; certificate: { commonName: string } } }>>(osctl("status", "-o", "json"))
    expect(status.map((s) => [s.node, s.result.hostname, s.result.certificate.commonName])).toEqual([
      [`127.0.0.1:${basePort}`, "vmt-1", "vmt-1"],
      [`127.0.0.1:${basePort + 1}`, "vmt-2", "vmt-2"]
    ])
  })

  it("gives each node its address on the private network", () => {
    const network = json<Array<{ result: { links: Array<{ name: string; up: boolean; addresses: Array<string> }> } }>>(osctl("network", "status", "-o", "json"))
    const eth1 = network.map((n) => n.result.links.find((l) => l.name === "eth1"))
    expect(eth1.map((l) => l?.up)).toEqual([true, true])
    expect(eth1.map((l) => l!.addresses.filter((a) => !a.includes(":")))).toEqual([["10.5.0.11/24"], ["10.5.0.12/24"]])
  })

  it("carries traffic between the nodes on the private network", () => {
    // Node 2 asks node 1's metrics server for a channel file: node 1 answers (404), so the request
    // crossed the private network. An address nobody holds gives a transport error instead.
    const toNode1 = osctl("-n", `127.0.0.1:${basePort + 1}`, "update", "install", "http://10.5.0.11:9100/latest.json")
    expect(toNode1.status).toBe(1)
    expect(toNode1.stderr).toContain("http://10.5.0.11:9100/latest.json answered HTTP 404")
    const toNode2 = osctl("-n", `127.0.0.1:${basePort}`, "update", "install", "http://10.5.0.12:9100/latest.json")
    expect(toNode2.stderr).toContain("http://10.5.0.12:9100/latest.json answered HTTP 404")
    const nobody = osctl("-n", `127.0.0.1:${basePort}`, "update", "install", "http://10.5.0.99:9100/latest.json")
    expect(nobody.status).toBe(1)
    expect(nobody.stderr).not.toContain("answered HTTP")
    expect(nobody.stderr).toMatch(/Transport error|timed out|unreachable/i)
  })

  it("refuses a second cluster of the same name", () => {
    const again = osctl("cluster", "create", "--nodes", "1", "--name", name, "--disk", image().qcow2, "--state", state)
    expect(again.status).toBe(1)
    expect(again.stderr.trim()).toBe(`error: cluster create: a cluster named ${name} exists in ${path.join(state, name)}: osctl cluster destroy --name ${name} first`)
  })

  it("destroys the cluster: both nodes power off in order, and nothing is left", () => {
    const consoles = ["vmt-1", "vmt-2"].map((node) => path.join(state, name, `${node}.console.log`))
    const before = consoles.map((file) => fs.statSync(file).size)
    // The consoles go with the cluster's directory: keep what the nodes print while they stop.
    const watched = consoles.map((file, i) => {
      const fd = fs.openSync(file, "r")
      return { fd, from: before[i]! }
    })
    const result = json<{ nodes: Array<{ node: string; how: string }> }>(osctl("cluster", "destroy", "--name", name, "--state", state, "-o", "json"))
    expect(result.nodes).toEqual([{ node: "vmt-1", how: "powered off" }, { node: "vmt-2", how: "powered off" }])
    for (const { fd, from } of watched) {
      const size = fs.fstatSync(fd).size
      const tail = Buffer.alloc(size - from)
      fs.readSync(fd, tail, 0, tail.length, from)
      fs.closeSync(fd)
      const text = tail.toString("utf8")
      expect(text).toContain("keel-init: poweroff requested: osctl cluster destroy")
      expect(text).toContain("keel-init: poweroff now")
    }
    expect(fs.existsSync(path.join(state, name))).toBe(false)
    expect(spawnSync("pgrep", ["-f", path.join(state, name)]).status).toBe(1)
    expect(JSON.parse(fs.readFileSync(configFile, "utf8"))).toEqual({ currentContext: null, contexts: {} })
  })
})
