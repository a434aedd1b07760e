/**
 * `npm start`: builds the image if its inputs changed and boots a local KeelOS node in QEMU through
 * UEFI (OVMF) and GRUB. The node is kept between runs in .keelos/node: its disk (the data partition
 * persists), its PKI (a cluster CA, the node's certificate, an admin client certificate), the
 * NoCloud seed volume that provisions it on its first boot, and an osctl config whose context
 * reaches the agent through a port forwarded by QEMU. A new image makes a new node. Ctrl-C asks the node to power off in order through the API (a second Ctrl-C, or a
 * node that does not answer, pulls the plug). `npm start -- --nodes N` starts N nodes in the background instead.
 */
import { execFileSync, spawnSync } from "node:child_process"
import * as fs from "node:fs"
import * as path from "node:path"
import { Effect, Exit, Layer } from "effect"
import { NodeApi, NodeApiClient } from "@keelos/api"
import { Pki } from "@keelos/pki"
import { NoCloud } from "@keelos/provision"
import * as NodeMtlsClient from "@keelos/platform-node/NodeMtlsClient"
import { ensureImage } from "../images/src/build.ts"
import { accelerator, freePort, rawCopy, Vm } from "../vm-tests/src/Qemu.ts"

const root = path.resolve(import.meta.dirname, "..")
const nodeDir = path.join(root, ".keelos", "node")
const pkiDir = path.join(nodeDir, "pki")
const say = (line: string) => console.log(`keelos: ${line}`)

say("checking the image (built only when its inputs changed) ...")
const image = ensureImage()
say(`image ${image.rebuilt ? "built" : "up to date"} in ${path.relative(root, image.dir)}`)
// `npx osctl` runs this bundle while it is current (apps/cli/bin/osctl.js): about 0.25 s a command against 0.9 s from the sources.
if (spawnSync("npm", ["run", "build", "--silent"], { cwd: path.join(root, "apps", "cli"), stdio: "ignore" }).status !== 0) say("osctl's bundle did not build; osctl runs from its sources")

/**
 * `npm start -- --nodes N`: N nodes in the background through `osctl cluster create` (a private
 * network between them, one osctl context for all), kept until `osctl cluster destroy`.
 */
const nodesFlag = process.argv.indexOf("--nodes")
if (nodesFlag >= 0) {
  const count = process.argv[nodesFlag + 1] ?? ""
  if (!/^\d+$/.test(count)) {
    say(`--nodes needs a number of nodes (npm start -- --nodes 3), not ${JSON.stringify(count)}`)
    process.exit(2)
  }
  const clusters = path.join(root, ".keelos", "clusters")
  const env = { ...process.env, OSCTLCONFIG: path.join(clusters, "osctl.json") }
  const osctl = (...args: Array<string>) => spawnSync(process.execPath, [path.join(root, "apps", "cli", "src", "main.ts"), ...args], { env, stdio: "inherit" })
  const osctlHint = `OSCTLCONFIG=${path.relative(root, env.OSCTLCONFIG)} npx osctl`
  if (fs.existsSync(path.join(clusters, "local", "cluster.json"))) {
    say(`a local cluster exists already (${osctlHint} cluster destroy --name local --state ${path.relative(root, clusters)} removes it):`)
    osctl("cluster", "show", "--name", "local", "--state", clusters)
    process.exit(0)
  }
  const created = osctl("cluster", "create", "--name", "local", "--nodes", count, "--disk", image.qcow2, "--state", clusters)
  if (created.status === 0) say(`the nodes run in the background; ${osctlHint} reaches them (destroy: ${osctlHint} cluster destroy --name local --state ${path.relative(root, clusters)})`)
  process.exit(created.status ?? 1)
}

const read = (name: string) => fs.readFileSync(path.join(pkiDir, name), "utf8")
const write = (name: string, pair: Pki.CertifiedKey) => {
  fs.writeFileSync(path.join(pkiDir, `${name}.crt`), pair.cert)
  fs.writeFileSync(path.join(pkiDir, `${name}.key`), pair.key, { mode: 0o600 })
}

/**
 * A new node: a fresh PKI, a copy of the built disk, and a NoCloud seed volume (CIDATA) with the
 * node's certificate and its network, which keel-init applies on the first boot (and leaves alone
 * after: it is applied once per instance-id).
 */
const makeNode = async (disk: string) => {
  fs.rmSync(nodeDir, { recursive: true, force: true })
  fs.mkdirSync(pkiDir, { recursive: true, mode: 0o700 })
  await Effect.runPromise(Effect.gen(function*() {
    const ca = yield* Pki.makeCa({ name: "keelos local cluster", days: 3650 })
    write("ca", ca)
    write("node", yield* Pki.issue(ca, { usage: "server", commonName: "keelos-local", dnsNames: ["localhost"], ipAddresses: ["127.0.0.1", "10.0.2.15"] }, 365))
    write("admin", yield* Pki.issue(ca, { usage: "client", commonName: "local-admin", organization: "os:admin" }, 365))
  }))
  rawCopy(image.disk, disk)
  const yaml = (value: unknown) => JSON.stringify(value, null, 2) + "\n" // JSON is YAML
  const documents = {
    metaData: yaml({ "instance-id": "keelos-local", "local-hostname": "keelos-local" }),
    networkConfig: yaml({
      version: 2,
      // QEMU's DHCP server leases the node 10.0.2.15, the address in its certificate.
      ethernets: { eth0: { dhcp4: true } }
    }),
    userData: `#cloud-config\n${yaml({ keelos: { pki: { ca: read("ca.crt"), certificate: read("node.crt"), key: read("node.key") } } })}`
  }
  const { warnings } = await Effect.runPromise(NoCloud.parseSeed(documents))
  for (const warning of warnings) say(`seed warning: ${warning}`)
  fs.writeFileSync(seedImage, NoCloud.volume(documents), { mode: 0o600 })
  fs.writeFileSync(path.join(nodeDir, "base"), fs.readFileSync(path.join(image.dir, ".inputs")))
}

const disk = path.join(nodeDir, "disk.raw")
const seedImage = path.join(nodeDir, "seed.img")
const stamp = path.join(nodeDir, "base")
if (!fs.existsSync(disk) || !fs.existsSync(stamp) || fs.readFileSync(stamp, "utf8") !== fs.readFileSync(path.join(image.dir, ".inputs"), "utf8")) {
  await makeNode(disk)
  say(`new node in ${path.relative(root, nodeDir)}: disk, PKI (cluster CA, node and admin certificates), NoCloud seed`)
} else {
  say(`reusing the node in ${path.relative(root, nodeDir)} (its data partition persists)`)
}

const port = await freePort()
const osctlConfig = path.join(nodeDir, "osctl.json")
execFileSync(process.execPath, [path.join(root, "apps", "cli", "src", "main.ts"), "config", "add", "local", "-n", `127.0.0.1:${port}`,
  "--ca", path.join(pkiDir, "ca.crt"), "--cert", path.join(pkiDir, "admin.crt"), "--key", path.join(pkiDir, "admin.key")], {
  env: { ...process.env, OSCTLCONFIG: osctlConfig },
  stdio: "ignore"
})

say(`booting under ${accelerator().toUpperCase()} (UEFI, GRUB, stage 1, keel-init); the node API is forwarded to 127.0.0.1:${port}`)
const vm = new Vm({ name: "node", resultsDir: nodeDir, disk, boot: { _tag: "Uefi" }, extraDisks: [seedImage], forwards: [{ host: port, guest: NodeApi.defaultPort }], cpus: 2, ownProcessGroup: true })
// QEMU is out of the terminal's reach (Ctrl-C comes here): it goes with this process whatever ends it.
process.on("exit", () => vm.kill())
for (const signal of ["SIGTERM", "SIGHUP"] as const) process.on(signal, () => process.exit(1))

const client = NodeApiClient.NodeApiClient.layer(`https://127.0.0.1:${port}/rpc`).pipe(
  Layer.provide(NodeMtlsClient.layer({ ca: read("ca.crt"), cert: read("admin.crt"), key: read("admin.key") }))
)
const call = <A, E>(f: (c: NodeApiClient.NodeApiClient["Service"]) => Effect.Effect<A, E>) =>
  Effect.runPromiseExit(Effect.scoped(Effect.flatMap(NodeApiClient.NodeApiClient, f)).pipe(Effect.provide(client), Effect.timeout("5 seconds")))

let shown = 0
const show = setInterval(() => {
  for (; shown < vm.lines.length; shown++) console.log(vm.lines[shown]!.text)
}, 100)

const waitForAgent = async () => {
  for (let i = 0; i < 600; i++) {
    if (vm.lines.length > 0 && (await call((c) => c.WhoAmI()))._tag === "Success") return true
    if (await Promise.race([vm.exited.then(() => true), new Promise((r) => setTimeout(() => r(false), 500))])) return false
  }
  return false
}
void waitForAgent().then((up) => {
  if (!up) return say(`the agent did not answer (console in ${path.relative(root, nodeDir)}/node.serial.log)`)
  const osctl = `OSCTLCONFIG=${path.relative(root, osctlConfig)} npx osctl`
  say(`the node is up after ${((performance.now() - vm.started) / 1000).toFixed(1)} s. Reach it with osctl:`)
  console.log(`\n    ${osctl} status\n    ${osctl} logs keel-agent\n    ${osctl} reboot --reason "trying it"\n`)
  say("Ctrl-C powers the node off in order")
})

let stopping = false
process.on("SIGINT", () => {
  if (stopping) {
    say("pulling the plug")
    void vm.powerCut().finally(() => process.exit(1))
    return
  }
  stopping = true
  say("asking the node to power off (Ctrl-C again to pull the plug)")
  void call((c) => c.Shutdown({ reason: "npm start: Ctrl-C on the host" })).then((exit) => {
    if (Exit.isFailure(exit)) {
      say("the node did not take the request; pulling the plug")
      void vm.powerCut().finally(() => process.exit(1))
    }
  })
  setTimeout(() => {
    say("the node did not power off within 60 s; pulling the plug")
    void vm.powerCut().finally(() => process.exit(1))
  }, 60_000).unref()
})
vm.exited.then((code) => {
  clearInterval(show)
  for (; shown < vm.lines.length; shown++) console.log(vm.lines[shown]!.text)
  say(`QEMU exited (${code})`)
  process.exit(code === 0 ? 0 : 1)
})
