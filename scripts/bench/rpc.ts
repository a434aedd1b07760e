/**
 * `npm run bench -- rpc` (issue #7): GetStatus latency over mutual TLS against the real agent and a
 * real keel-init on the host, and the cold start of `osctl status` (a new process each time, as an
 * operator runs it) against `node -e 0` measured in the same run. Also the floor under that figure:
 * the same call from a bare node:https script (mtls-call.cjs), so what osctl itself adds is plain.
 * Last line: one JSON object.
 */
import { execFile, spawnSync } from "node:child_process"
import { promisify } from "node:util"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { Effect, Layer } from "effect"
import { NodeApiClient } from "@keelos/api"
import * as NodeMtlsClient from "@keelos/platform-node/NodeMtlsClient"
import { makePki, startAgent, startInit } from "../../apps/agent/test/fixture.ts"

const execFileAsync = promisify(execFile)
const root = path.resolve(import.meta.dirname, "..", "..")
const calls = Number(process.env["KEEL_BENCH_CALLS"] ?? 1000)
const starts = Number(process.env["KEEL_BENCH_STARTS"] ?? 15)
const quantile = (values: ReadonlyArray<number>, q: number) => {
  const sorted = [...values].sort((a, b) => a - b)
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]!
}
const round = (n: number, digits = 2) => Number(n.toFixed(digits))

spawnSync("npm", ["run", "build", "--silent"], { cwd: path.join(root, "apps", "cli"), stdio: "inherit" })
const pki = await makePki()
const init = await startInit()
const agent = await startAgent(init, pki)

// GetStatus over one kept-alive mutual TLS connection, as a client library would.
const latencies = await Effect.runPromise(Effect.gen(function*() {
  const client = yield* NodeApiClient.NodeApiClient
  const samples: Array<number> = []
  for (let i = 0; i < calls + 50; i++) {
    const started = performance.now()
    yield* client.GetStatus()
    if (i >= 50) samples.push(performance.now() - started)
  }
  return samples
}).pipe(
  Effect.scoped,
  Effect.provide(NodeApiClient.NodeApiClient.layer(agent.url).pipe(Layer.provide(NodeMtlsClient.layer({ ca: pki.ca.cert, ...pki.admin }))))
))
const p50 = quantile(latencies, 0.5)
const p99 = quantile(latencies, 0.99)
console.log(`GetStatus over mutual TLS, ${calls} calls: p50 ${p50.toFixed(2)} ms, p99 ${p99.toFixed(2)} ms (target p99 < 50 ms)`)

// Cold starts: osctl status (a full mutual TLS call) against bare node, interleaved, with the compile cache warm.
const dir = fs.mkdtempSync(path.join(os.tmpdir(), "keel-bench-rpc-"))
const write = (name: string, text: string) => fs.writeFileSync(path.join(dir, name), text)
write("ca.crt", pki.ca.cert)
write("alice.crt", pki.admin.cert)
write("alice.key", pki.admin.key)
const env = { ...process.env, OSCTLCONFIG: path.join(dir, "osctl.json"), NODE_COMPILE_CACHE: path.join(dir, "compile-cache") }
// The command as operators run it (the package's bin): the launcher, which runs the bundle just built.
const osctl = path.join(root, "apps", "cli", "bin", "osctl.js")
const port = new URL(agent.url).port
// Asynchronous: the agent serves from this process, so its event loop must keep running.
const run = async (args: ReadonlyArray<string>) => {
  const started = performance.now()
  await execFileAsync(process.execPath, args, { env, encoding: "utf8" })
  return performance.now() - started
}
await run([osctl, "config", "add", "bench", "-n", `127.0.0.1:${port}`, "--ca", path.join(dir, "ca.crt"), "--cert", path.join(dir, "alice.crt"), "--key", path.join(dir, "alice.key")])
await run([osctl, "status"])
await run(["-e", "0"])
const floorCall = [path.join(import.meta.dirname, "mtls-call.cjs"), env.OSCTLCONFIG]
await run(floorCall)
const bare: Array<number> = []
const status: Array<number> = []
const floor: Array<number> = []
for (let i = 0; i < starts; i++) {
  bare.push(await run(["-e", "0"]))
  status.push(await run([osctl, "status"]))
  floor.push(await run(floorCall))
}
const bareMs = quantile(bare, 0.5)
const statusMs = quantile(status, 0.5)
const floorMs = quantile(floor, 0.5)
console.log(`cold start, median of ${starts}: node -e 0 ${bareMs.toFixed(1)} ms, osctl status ${statusMs.toFixed(1)} ms (target under 1.5x)`)
console.log(`the same call from bare node:https (the floor for any Node client): ${floorMs.toFixed(1)} ms, ${(floorMs / bareMs).toFixed(2)}x node -e 0`)

await agent.close()
init.child.kill("SIGKILL")
console.log(JSON.stringify({ status_p50_ms: round(p50), status_p99_ms: round(p99), osctl_cold_ratio: round(statusMs / bareMs), osctl_status_ms: round(statusMs, 1), node_bare_ms: round(bareMs, 1), mtls_floor_ratio: round(floorMs / bareMs) }))
process.exit(0)
