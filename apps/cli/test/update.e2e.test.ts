/**
 * Updates end to end on the host: a real keel-init, the real keel-agent process with its update
 * engine writing into slot files, a real HTTP channel (signed latest.json, Range support), the
 * bundled osctl, and the GRUB environment block read back with grub-editenv. Then the trial boot:
 * the agent restarted as the new version on slot B runs the health gate and promotes B.
 */
import { execFileSync } from "node:child_process"
import { createHash, generateKeyPairSync } from "node:crypto"
import * as fs from "node:fs"
import * as http from "node:http"
import * as path from "node:path"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { Schema } from "effect"
import { ReleaseMetadata } from "@keelos/domain"
import { Release, Signing } from "@keelos/release"
import { startUpdateNode, type UpdateNode } from "./updateNode.ts"

const keys = generateKeyPairSync("ed25519")
const publicKey = keys.publicKey.export({ type: "spki", format: "pem" }).toString()
const privateKey = keys.privateKey.export({ type: "pkcs8", format: "pem" }).toString()
const keyId = Signing.keyId(publicKey)
const imageBytes = Buffer.alloc(3 * 1024 * 1024 + 123)
for (let i = 0; i < imageBytes.length; i++) imageBytes[i] = (i * 2654435761) >>> 24
const sha256 = (b: Uint8Array) => createHash("sha256").update(b).digest("hex")

/** latest.json for 0.2.0 signed by the test key; `tamper` changes a byte after signing. */
const channel = (tamper = false) => {
  const metadata = Schema.decodeUnknownSync(ReleaseMetadata.ReleaseMetadata)({
    schema: 1, version: "0.2.0", channel: "stable", arch: "amd64", min_compatible_version: "0.1.0",
    release_date: new Date().toISOString(), expires: new Date(Date.now() + 86_400_000).toISOString(), release_notes: "e2e",
    image: { url: "os-0.2.0.img", size: imageBytes.length, sha256: sha256(imageBytes) }, deltas: [],
    signing_key: { id: keyId, development: true }
  })
  const document = Release.encode(metadata)
  const signature = Signing.sign(document, privateKey)
  return { document: tamper ? Buffer.from(new TextDecoder().decode(document).replace("e2e", "e2f")) : document, signature }
}

let node: UpdateNode
let server: http.Server
let serverPort = 0
const requests: Array<string> = []
const osctl = (...args: Array<string>) => node.osctl(...args)
const ok = (...args: Array<string>) => node.ok(...args)
const bootEnv = () => node.bootEnv()

let served = channel()

beforeAll(async () => {
  server = http.createServer((req, res) => {
    requests.push(`${req.url} ${req.headers.range ?? ""}`.trim())
    if (req.url === "/stable/amd64/latest.json") return void res.end(served.document)
    if (req.url === "/stable/amd64/latest.json.sig") return void res.end(served.signature)
    if (req.url !== "/stable/amd64/os-0.2.0.img") return void res.writeHead(404).end()
    const start = Number(/^bytes=(\d+)-$/.exec(req.headers.range ?? "")?.[1] ?? 0)
    res.writeHead(start > 0 ? 206 : 200, {
      "content-length": imageBytes.length - start,
      ...(start > 0 ? { "content-range": `bytes ${start}-${imageBytes.length - 1}/${imageBytes.length}` } : {})
    })
    res.end(imageBytes.subarray(start))
  })
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve))
  serverPort = (server.address() as { port: number }).port

  node = await startUpdateNode({
    trustedKey: { id: keyId, publicKey },
    update: { watch: { mode: "check", source: url(), intervalMillis: 3_600_000, jitterMillis: 1_000, window: null } }
  })
}, 120_000)

afterAll(async () => {
  await node?.stop()
  server?.close()
})

const url = () => `http://127.0.0.1:${serverPort}/stable/amd64/latest.json`

describe("osctl update against a real agent", () => {
  it("the channel watch checks soon after the agent starts and reports 0.2.0 as available", async () => {
    let status = ""
    for (let i = 0; i < 50 && !status.includes("last check"); i++) {
      status = (await ok("update", "status")).stdout
      if (!status.includes("last check")) await new Promise((r) => setTimeout(r, 200))
    }
    expect(status).toMatch(/last check +\d{4}-\d\d-\d\dT\d\d:\d\dZ \(check\): 0\.2\.0 is available/)
    expect(requests.some((r) => r.includes("os-0.2.0.img"))).toBe(false)
  })

  it("refuses tampered metadata without touching the slots", async () => {
    served = channel(true)
    const result = await osctl("update", "install", url(), "--no-reboot")
    served = channel()
    expect(result.status).toBe(1)
    expect(result.stderr).toMatch(/BadSignature/)
    expect(requests.some((r) => r.includes("os-0.2.0.img"))).toBe(false)
    expect(bootEnv()["KEEL_NEXT"]).toBeUndefined()
  })

  it("installs 0.2.0 into slot B with progress and puts it on trial", async () => {
    const result = await ok("update", "install", url(), "--no-reboot", "--health-check-timeout", "60")
    expect(result.stderr).toMatch(/checking\n.*downloading 0\.2\.0 0% \(0\.0 MB of 3\.1 MB\)/)
    expect(result.stderr).toMatch(/downloading 0\.2\.0 100% \(3\.1 MB of 3\.1 MB\)\n.*staged 0\.2\.0\n.*activated 0\.2\.0/)
    expect(result.stdout).toContain("0.2.0 is on trial in the inactive slot; reboot the node to try it")
    const slotB = fs.readFileSync(path.join(node.dir, "slot-B")).subarray(0, imageBytes.length)
    expect(sha256(slotB)).toBe(sha256(imageBytes))
    expect(bootEnv()).toMatchObject({ KEEL_ACTIVE: "A", KEEL_NEXT: "B", KEEL_TRIES: "3" })
    const status = (await ok("update", "status")).stdout
    expect(status).toMatch(/phase +activated 0\.1\.0 -> 0\.2\.0 \(slot B\)/)
    expect(status).toMatch(/B +trial +0\.2\.0/)
    const metrics = await (await fetch(`http://127.0.0.1:${node.metricsPort}/metrics`)).text()
    expect(metrics).toContain("keelos_update_phase{phase=\"activated\"} 1")
    expect(metrics).toContain("keelos_update_engine_available 1")
    expect(metrics).toMatch(/^keelos_update_attempts_total 2$/m)
    const history = JSON.parse((await ok("rollback", "history", "-o", "json")).stdout) as Array<{ result: Array<{ kind: string; actor: string; toVersion: string }> }>
    expect(history[0]!.result.map((e) => [e.kind, e.actor, e.toVersion])).toEqual([["failure", "alice", null], ["install", "alice", "0.2.0"]])
  })

  it("schedules an update into a window, lists it and cancels it", async () => {
    expect((await ok("schedule", "list")).stdout.trim()).toBe("no scheduled updates")
    const bad = await osctl("schedule", "update", "--source", url(), "--window", "Saturday night")
    expect([bad.status, bad.stderr.trim()]).toEqual([1, `127.0.0.1:${node.port()}: error: ScheduleUpdate failed on the node: check: BadRequest: "Saturday night": a window is DAYS HH:MM-HH:MM UTC, e.g. "Sat 02:00-04:00 UTC", "Mon,Thu 22:00-01:00 UTC" or "daily 03:00-04:00 UTC"`])
    const added = (await ok("schedule", "update", "--source", url(), "--window", "sat 02:00-04:00 UTC", "--health-check-timeout", "300")).stdout
    const id = /^scheduled ([0-9a-f]{8}): .* in Sat 02:00-04:00 UTC, next opening \d{4}-\d\d-\d\dT02:00Z$/m.exec(added)?.[1]
    expect(id, added).toBeDefined()
    expect((await ok("schedule", "list")).stdout).toMatch(new RegExp(`${id} +pending +Sat 02:00-04:00 UTC`))
    expect((await ok("schedule", "cancel", id!)).stdout.trim()).toBe(`cancelled ${id} (Sat 02:00-04:00 UTC)`)
    const listed = JSON.parse((await ok("schedule", "list", "-o", "json")).stdout) as Array<{ result: Array<{ state: string; lastMessage: string; healthTimeoutMillis: number }> }>
    expect(listed[0]!.result).toMatchObject([{ state: "cancelled", lastMessage: "cancelled by alice", healthTimeoutMillis: 300_000 }])
  })

  it("reports the node's health checks", async () => {
    const result = await osctl("health")
    expect(result.stdout).toMatch(/data-writable +yes +ok/)
    expect(result.stdout).toMatch(/services +yes +ok/)
  })

  it("on the trial boot the new version's agent passes the health gate and promotes slot B", async () => {
    await node.stopAgent()
    execFileSync("grub-editenv", [path.join(node.dir, "grubenv"), "set", "KEEL_BOOTED=B", "KEEL_TRIES=2"])
    await node.startAgent("0.2.0")
    for (let i = 0; i < 100 && bootEnv()["KEEL_ACTIVE"] !== "B"; i++) await new Promise((r) => setTimeout(r, 200))
    expect(bootEnv()).toMatchObject({ KEEL_ACTIVE: "B", KEEL_BOOTED: "B" })
    expect(bootEnv()["KEEL_NEXT"]).toBeUndefined()
    const status = (await ok("update", "status")).stdout
    expect(status).toMatch(/phase +success 0\.1\.0 -> 0\.2\.0/)
    expect((await ok("rollback", "history")).stdout).toMatch(/success +0\.1\.0 +0\.2\.0 +health-gate +healthy for 1 s on slot B/)
    expect((await ok("health")).stdout).toMatch(/last health gate: passed/)
  }, 60_000)

  it("rolls back by hand to slot A, which booted 0.1.0 healthy before", async () => {
    const result = await osctl("rollback", "trigger", "--reason", "e2e says so")
    // The agent asks init to reboot; the host init stops its services and exits instead.
    expect(result.stdout + result.stderr).toMatch(/rolling back to slot A \(0\.1\.0\)|init control socket/)
    expect(bootEnv()).toMatchObject({ KEEL_ACTIVE: "A" })
  })
})
