import * as fs from "node:fs"
import * as net from "node:net"
import * as path from "node:path"
import { spawn, spawnSync } from "node:child_process"
import { makeEnvBlock, makePki, startInit } from "../apps/agent/test/fixture.ts"
import { freePort } from "../vm-tests/src/Qemu.ts"

spawnSync("npm", ["run", "build", "--silent"], { cwd: "apps/agent", stdio: "inherit" })
const pki = await makePki()
const init = await startInit()
const port = await freePort()
const dir = init.dir
fs.writeFileSync(path.join(dir, "ca.crt"), pki.ca.cert)
fs.writeFileSync(path.join(dir, "node.crt"), pki.server.cert)
fs.writeFileSync(path.join(dir, "node.key"), pki.server.key, { mode: 0o600 })
const config = {
  listen: { host: "127.0.0.1", port },
  tls: { caFile: path.join(dir, "ca.crt"), certFile: path.join(dir, "node.crt"), keyFile: path.join(dir, "node.key") },
  initSocket: init.socket,
  envBlock: makeEnvBlock(dir),
  audit: { file: path.join(dir, "audit", "audit.log"), maxBytes: 65536, keep: 2, memoryEntries: 500 },
  ...(process.env["CONFIG_EXTRA"] ? JSON.parse(process.env["CONFIG_EXTRA"]) : {})
}
fs.writeFileSync(path.join(dir, "agent.json"), JSON.stringify(config))
const extra = process.argv.slice(2)
for (let round = 0; round < 3; round++) {
  const started = performance.now()
  const child = spawn(process.env["QEMU"] ? "qemu-x86_64" : process.execPath, [...(process.env["QEMU"] ? ["-cpu", "max", process.execPath] : []), ...extra, "apps/agent/dist/keel-agent.js", path.join(dir, "agent.json")], { stdio: ["ignore", "pipe", "inherit"], env: { ...process.env, NODE_COMPILE_CACHE: path.join(dir, "cc") } })
  child.stdout.on("data", (d) => process.stdout.write(d))
  for (;;) {
    const ok = await new Promise<boolean>((resolve) => { const s = net.connect(port, "127.0.0.1", () => { s.destroy(); resolve(true) }); s.on("error", () => resolve(false)) })
    if (ok) break
    await new Promise((r) => setTimeout(r, 5))
  }
  console.log(`round ${round}: listening after ${(performance.now() - started).toFixed(0)} ms`)
  await new Promise((r) => setTimeout(r, 300))
  child.kill("SIGTERM")
  await new Promise((r) => child.on("exit", r))
}
init.child.kill("SIGKILL")
process.exit(0)
