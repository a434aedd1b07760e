/**
 * Updates on a booted node (issue #8's VM suite): a node installed with 0.1.0 updates over HTTP
 * from a signed channel served by the host (through a content delta, issue #9), reboots into the
 * trial slot and keeps it when the health gate passes; a 0.3.0 whose required health check never
 * passes is rolled back to 0.2.0 by the agent; a 0.3.0 whose kernel panics is rolled back by
 * GRUB's boot counter; a power cut while the slot is written leaves 0.2.0 booting, and the retried
 * install resumes where the synced bytes end; an update scheduled into a window that opens a
 * minute later runs in it (its corrupt delta refused, the full image installed instead); a release
 * published signed to a real OCI registry (docker-registry) installs and is kept. The guest
 * reboots inside QEMU, so GRUB's counter runs exactly as on hardware.
 */
import * as fs from "node:fs"
import * as http from "node:http"
import * as path from "node:path"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { type Duration, Effect, Exit, Layer, Stream } from "effect"
import { NodeApi, NodeApiClient } from "@keelos/api"
import { Pki } from "@keelos/pki"
import * as NodeMtlsClient from "@keelos/platform-node/NodeMtlsClient"
import { ensureImage, type Image } from "../../images/src/build.ts"
import { provisionDisk, qemuUserNetwork } from "../../images/src/provision.ts"
import { publishOci } from "../../images/src/publish-oci.ts"
import { type DeltaSpec, publish } from "../../images/src/release.ts"
import { type RunningRegistry, startRegistry } from "@keelos/oci/testing"
import { image, resultsDir } from "../src/Image.ts"
import { accelerator, freePort, rawCopy, Vm } from "../src/Qemu.ts"

const results = resultsDir("update")
const channels = path.join(results, "channels")

let vm: Vm
let port = 0
let serverPort = 0
let server: http.Server
let registry: RunningRegistry
let admin: { ca: string; cert: string; key: string }
const requests: Array<string> = []

const call = <A, E>(f: (client: NodeApiClient.NodeApiClient["Service"]) => Effect.Effect<A, E>, timeout: Duration.Input = "20 seconds") =>
  Effect.runPromiseExit(
    Effect.scoped(Effect.flatMap(NodeApiClient.NodeApiClient, f)).pipe(
      Effect.provide(NodeApiClient.NodeApiClient.layer(`https://127.0.0.1:${port}/rpc`).pipe(Layer.provide(NodeMtlsClient.layer(admin)))),
      Effect.timeout(timeout)
    )
  )

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))

/** Polls the node's status (it may be rebooting) until `done` holds. */
const until = async (what: string, done: (s: NodeApi.NodeStatus) => boolean, timeoutMs: number): Promise<NodeApi.NodeStatus> => {
  const deadline = performance.now() + timeoutMs
  let last: NodeApi.NodeStatus | string = "no answer yet"
  while (performance.now() < deadline) {
    const exit = await call((c) => c.GetStatus(), "10 seconds")
    if (Exit.isSuccess(exit)) {
      last = exit.value
      if (done(exit.value)) return exit.value
    }
    await sleep(2_000)
  }
  // What the node says about itself, for the failure message: its health checks and the agent's last lines.
  const health = await call((c) => c.GetHealth(), "30 seconds")
  const logs = await call((c) => Stream.runCollect(c.StreamLogs({ service: "keel-agent", tail: 30, follow: false })), "20 seconds")
  const lines = Exit.isSuccess(logs) ? logs.value.map((l) => l.line).join("\n") : String(logs.cause)
  throw new Error(`${what}: not reached in ${timeoutMs} ms; last status ${JSON.stringify(last)}\nhealth ${Exit.isSuccess(health) ? JSON.stringify(health.value) : String(health.cause)}\nagent:\n${lines}\n${vm.tail(30)}`)
}

/** Installs from a channel and returns the progress the node reported. */
const install = async (channel: string, options: { force?: boolean; reboot?: boolean; healthTimeoutMillis?: number } = {}) => {
  const exit = await call((c) =>
    Stream.runCollect(c.InstallUpdate({
      source: `http://10.0.2.2:${serverPort}/${channel}/stable/amd64/latest.json`,
      force: options.force ?? false,
      reboot: options.reboot ?? true,
      ...(options.healthTimeoutMillis === undefined ? {} : { healthTimeoutMillis: options.healthTimeoutMillis })
    })), "300 seconds")
  if (Exit.isFailure(exit)) throw new Error(`install ${channel}: ${String(exit.cause)}`)
  return exit.value
}

const boot = (disk: string) => {
  vm = new Vm({ name: "update", resultsDir: results, disk, boot: { _tag: "Bios" }, forwards: [{ host: port, guest: NodeApi.defaultPort }], rebootable: true })
}

/** Static files with Range support, as an update mirror serves them; every request is logged. */
const serve = (dir: string) =>
  http.createServer((req, res) => {
    const file = path.join(dir, path.normalize(decodeURIComponent(req.url ?? "/")).replace(/^(\.\.[/\\])+/, ""))
    requests.push(`${req.url}${req.headers.range === undefined ? "" : ` ${req.headers.range}`}`)
    if (!fs.existsSync(file) || !fs.statSync(file).isFile()) return void res.writeHead(404).end()
    const size = fs.statSync(file).size
    const start = Number(/^bytes=(\d+)-$/.exec(req.headers.range ?? "")?.[1] ?? 0)
    res.writeHead(start > 0 ? 206 : 200, { "content-length": size - start, ...(start > 0 ? { "content-range": `bytes ${start}-${size - 1}/${size}` } : {}) })
    fs.createReadStream(file, { start }).pipe(res)
  })

const release = (name: string, built: Image, version: string, deltas: ReadonlyArray<DeltaSpec> = []) =>
  publish({ osImage: built.osImage, version, out: path.join(channels, name), channel: "stable", arch: "amd64", minCompatibleVersion: "0.1.0", expiresDays: 7, notes: name, nowMillis: Date.now(), deltas })

beforeAll(async () => {
  fs.rmSync(results, { recursive: true, force: true })
  const v1 = image()
  const v2 = ensureImage("0.2.0")
  release("v1", v1, "0.1.0")
  // 0.2.0 carries a content delta from 0.1.0: the node rebuilds the image from its own files.
  release("v2", v2, "0.2.0", [{ fromImage: v1.osImage, fromVersion: "0.1.0" }])
  release("v3-unhealthy", ensureImage("0.3.0", "unhealthy"), "0.3.0")
  release("v3-unbootable", ensureImage("0.3.0", "unbootable"), "0.3.0")
  // The scheduled update: 0.2.0's image published as 0.4.0 (a version the node has not seen), with a
  // corrupt delta from 0.2.0 (signed, so it downloads; it cannot apply): the node falls back to the image.
  const corrupt = path.join(results, "corrupt.keeltd")
  fs.writeFileSync(corrupt, Buffer.concat([Buffer.from("KEELTD01"), Buffer.from([16, 0, 0, 0]), Buffer.from("not a zstd frame")]))
  release("v4", v2, "0.4.0", [{ fromImage: v2.osImage, fromVersion: "0.2.0", patchFile: corrupt }])
  // 0.5.0 goes to a registry instead: the CNCF distribution registry on the host's loopback, which
  // the guest reaches as 10.0.2.2 (plain HTTP; TLS and token auth are covered on the host).
  registry = await startRegistry("http")
  await publishOci({
    osImage: ensureImage("0.5.0").osImage, version: "0.5.0", to: `oci+http://${registry.host}/keelos/os:0.5.0`, extraTags: ["stable"],
    channel: "stable", arch: "amd64", minCompatibleVersion: "0.1.0", expiresDays: 7, notes: "from the registry", nowMillis: Date.now()
  })
  server = serve(channels)
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve))
  serverPort = (server.address() as { port: number }).port

  const pki = await Effect.runPromise(Effect.gen(function*() {
    const ca = yield* Pki.makeCa({ name: "vm-update cluster", days: 30 })
    return {
      ca,
      admin: yield* Pki.issue(ca, { usage: "client", commonName: "alice", organization: "os:admin" }, 30),
      node: yield* Pki.issue(ca, { usage: "server", commonName: "node-1", dnsNames: ["localhost"], ipAddresses: ["127.0.0.1", "10.0.2.15"] }, 30)
    }
  }))
  admin = { ca: pki.ca.cert, ...pki.admin }
  const disk = rawCopy(v1.disk, path.join(results, "disk.raw"))
  provisionDisk(disk, { pki: { ca: pki.ca.cert, ...pki.node }, network: qemuUserNetwork })
  port = await freePort()
  boot(disk)
  await until("0.1.0 answers", (s) => s.version === "0.1.0", 240_000)
}, 900_000)

afterAll(async () => {
  vm?.kill()
  server?.close()
  await registry?.stop()
})

describe(`updates on a booted node (${accelerator()})`, () => {
  it("0.1.0 to 0.2.0 over HTTP through a delta: trial boot, health gate, success", async () => {
    const progress = await install("v2")
    expect(progress.map((p) => p.phase).filter((p, i, all) => all.indexOf(p) === i)).toEqual(["checking", "downloading", "staged", "activated"])
    expect(progress.at(-1)).toMatchObject({ version: "0.2.0" })
    const saved = progress.find((p) => p.bytesSaved !== undefined)?.bytesSaved ?? 0
    expect(saved).toBeGreaterThan(80_000_000)
    expect(requests.some((r) => r.includes("/v2/stable/amd64/delta-0.1.0.keeltd"))).toBe(true)
    expect(requests.some((r) => r.includes("/v2/stable/amd64/os-0.2.0.img"))).toBe(false)
    const status = await until("0.2.0 promoted", (s) => s.version === "0.2.0" && s.update?.phase === "success", 300_000)
    expect(status.bootEnv).toMatchObject({ active: "B", next: null, booted: "B" })
    expect(status.slots.map((s) => [s.slot, s.role, s.version])).toEqual([["A", "inactive", "0.1.0"], ["B", "good", "0.2.0"]])
  }, 600_000)

  it("0.2.0 to a 0.3.0 whose health check fails: rolled back to 0.2.0 by the agent", async () => {
    await install("v3-unhealthy", { healthTimeoutMillis: 20_000 })
    const status = await until("0.3.0 rolled back", (s) => s.version === "0.2.0" && s.update?.phase === "rolled_back", 400_000)
    expect(status.bootEnv).toMatchObject({ active: "B", next: null, booted: "B" })
    expect(status.update?.lastError).toMatch(/not healthy after 20 s: always-down: GET http:\/\/127\.0\.0\.1:9\/healthz/)
    expect(status.update?.rolledBack).toContain("0.3.0")
    const history = await call((c) => c.GetRollbackHistory())
    expect(Exit.isSuccess(history) && history.value.at(-1)).toMatchObject({ kind: "rollback", actor: "health-gate", fromVersion: "0.3.0", toVersion: "0.2.0" })
  }, 600_000)

  it("a 0.3.0 whose kernel panics: rolled back by GRUB's boot counter after 3 tries", async () => {
    const refused = await call((c) => Stream.runCollect(c.InstallUpdate({ source: `http://10.0.2.2:${serverPort}/v3-unbootable/stable/amd64/latest.json`, force: false, reboot: true })))
    expect(Exit.isFailure(refused) && String(refused.cause)).toMatch(/0\.3\.0 was rolled back on this node before/)
    const from = vm.mark()
    await install("v3-unbootable", { force: true })
    const status = await until("firmware rollback", (s) => s.version === "0.2.0" && s.update?.phase === "rolled_back" && s.update.toVersion === "0.3.0" && /did not come up/.test(s.update.lastError ?? ""), 400_000)
    expect(status.bootEnv).toMatchObject({ active: "B", next: null, booted: "B" })
    const panics = vm.lines.slice(from).filter((l) => /Kernel panic/.test(l.text)).length
    expect(panics).toBe(3)
  }, 600_000)

  it("a power cut while the slot is written leaves 0.2.0 booting; the retried install resumes", async () => {
    const source = `http://10.0.2.2:${serverPort}/v1/stable/amd64/latest.json`
    // Follow the download and pull the plug once more than a third of the image is written.
    const following = call((c) =>
      c.InstallUpdate({ source, force: true, reboot: false }).pipe(
        Stream.takeUntil((p) => p.totalBytes !== null && p.bytes > p.totalBytes / 3),
        Stream.runCollect
      ), "300 seconds")
    await following
    await vm.powerCut()
    requests.length = 0
    boot(path.join(results, "disk.raw"))
    const after = await until("0.2.0 after the power cut", (s) => s.version === "0.2.0" && s.update?.phase === "failed", 240_000)
    expect(after.bootEnv).toMatchObject({ active: "B", next: null })
    expect(after.update?.lastError).toMatch(/interrupted by a restart while downloading at byte \d+/)
    const synced = after.update?.download?.syncedBytes ?? 0
    expect(synced).toBeGreaterThan(0)
    const progress = await install("v1", { force: true, reboot: false })
    expect(progress.find((p) => p.phase === "downloading")?.bytes).toBe(synced)
    expect(requests.some((r) => r.endsWith(`os-0.1.0.img bytes=${synced}-`))).toBe(true)
    expect(progress.at(-1)?.phase).toBe("activated")
    const status = await until("staged 0.1.0 on trial", (s) => s.update?.phase === "activated", 30_000)
    expect(status.bootEnv).toMatchObject({ active: "B", next: "A", tries: 3 })
  }, 600_000)

  it("an update scheduled into a window that opens a minute later runs in that window", async () => {
    const pad = (n: number) => String(n).padStart(2, "0")
    const opens = new Date(Math.ceil((Date.now() + 60_000) / 60_000) * 60_000)
    const closes = new Date(opens.getTime() + 10 * 60_000)
    const window = `daily ${pad(opens.getUTCHours())}:${pad(opens.getUTCMinutes())}-${pad(closes.getUTCHours())}:${pad(closes.getUTCMinutes())} UTC`
    const scheduled = await call((c) => c.ScheduleUpdate({ source: `http://10.0.2.2:${serverPort}/v4/stable/amd64/latest.json`, window, healthTimeoutMillis: 120_000 }))
    if (Exit.isFailure(scheduled)) throw new Error(String(scheduled.cause))
    expect(scheduled.value).toMatchObject({ state: "pending", nextStartMillis: opens.getTime() })
    requests.length = 0
    // Nothing moves before the window opens.
    await sleep(Math.max(0, opens.getTime() - Date.now() - 5_000))
    expect(requests.filter((r) => r.includes("/v4/"))).toEqual([])
    const ran = async () => {
      const deadline = Date.now() + 240_000
      while (Date.now() < deadline) {
        const list = await call((c) => c.GetUpdateSchedule(), "10 seconds")
        const mine = Exit.isSuccess(list) ? list.value.find((s) => s.id === scheduled.value.id) : undefined
        if (mine !== undefined && mine.state !== "pending" && mine.state !== "running") return mine
        await sleep(2_000)
      }
      throw new Error(`the schedule did not run:\n${vm.tail(20)}`)
    }
    const done = await ran()
    expect(done).toMatchObject({ state: "done", lastMessage: "activated 0.4.0; the node reboots into it" })
    expect(requests.some((r) => r.includes("/v4/stable/amd64/os-0.4.0.img"))).toBe(true)
    // The node reboots into 0.4.0 right after the schedule is done: ask until the agent answers again.
    let history = await call((c) => c.GetRollbackHistory(), "10 seconds")
    for (let i = 0; i < 60 && Exit.isFailure(history); i++) {
      await sleep(2_000)
      history = await call((c) => c.GetRollbackHistory(), "10 seconds")
    }
    const install = Exit.isSuccess(history) ? history.value.find((e) => e.kind === "install" && e.toVersion === "0.4.0") : undefined
    expect(install?.actor).toMatch(/^schedule [0-9a-f]{8} \(by alice\)$/)
    // The corrupt delta was fetched, refused, recorded, and the full image installed instead.
    expect(requests.some((r) => r.includes("/v4/stable/amd64/delta-0.2.0.keeltd"))).toBe(true)
    const fallback = Exit.isSuccess(history) ? history.value.find((e) => e.kind === "failure" && e.toVersion === "0.4.0") : undefined
    expect(fallback?.reason).toMatch(/the delta from 0\.2\.0 was not used: .*installing the full image instead/)
  }, 600_000)

  it("0.5.0 from an OCI registry: the signed release for amd64 from the tag's index, trial boot, success", async () => {
    await until("the scheduled 0.4.0 kept", (s) => s.update?.phase === "success" && s.update.toVersion === "0.4.0", 400_000)
    const exit = await call((c) => Stream.runCollect(c.InstallUpdate({ source: `oci+http://10.0.2.2:${registry.host.split(":")[1]}/keelos/os:0.5.0`, force: false, reboot: true })), "300 seconds")
    if (Exit.isFailure(exit)) throw new Error(`install from the registry: ${String(exit.cause)}`)
    expect(exit.value.map((p) => p.phase).filter((p, i, all) => all.indexOf(p) === i)).toEqual(["checking", "downloading", "staged", "activated"])
    const status = await until("0.5.0 promoted", (s) => s.version === "0.5.0" && s.update?.phase === "success", 400_000)
    expect(status.update).toMatchObject({ fromVersion: "0.2.0", toVersion: "0.5.0" })
    const slot = status.slots.find((s) => s.version === "0.5.0")
    expect(slot?.role).toBe("good")
  }, 900_000)
})
