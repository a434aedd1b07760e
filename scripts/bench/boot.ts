/**
 * `npm run bench -- boot` (issue #5): boots a provisioned copy of the image 5 times under QEMU through
 * SeaBIOS and GRUB (TCG unless kvm_intel/kvm_amd is loaded, 2 CPUs) and reports medians: QEMU start to
 * keel-init's first line, keel-init to the agent answering a mutual-TLS call through the forwarded
 * port (polled every 100 ms from the host), and QEMU start to that answer. Also the OS image size.
 * Last line: one JSON object.
 */
import * as fs from "node:fs"
import * as path from "node:path"
import { Effect, Layer, Stream } from "effect"
import { NodeApi, NodeApiClient } from "@keelos/api"
import { Pki } from "@keelos/pki"
import * as NodeMtlsClient from "@keelos/platform-node/NodeMtlsClient"
import { ensureImage } from "../../images/src/build.ts"
import { provisionDisk, qemuUserNetwork } from "../../images/src/provision.ts"
import { accelerator, freePort, overlay, rawCopy, Vm } from "../../vm-tests/src/Qemu.ts"

const runs = Number(process.env["KEEL_BENCH_BOOTS"] ?? 5)
/** A Kubernetes node has at least two CPUs (kubeadm refuses fewer); KEEL_BENCH_CPUS=1 measures one. */
const cpus = Number(process.env["KEEL_BENCH_CPUS"] ?? 2)
const root = path.resolve(import.meta.dirname, "..", "..")
const results = path.join(root, "results", "bench-boot")
const image = ensureImage()
const disk = rawCopy(image.disk, path.join(results, "disk.raw"))
const pki = await Effect.runPromise(Effect.gen(function*() {
  const ca = yield* Pki.makeCa({ name: "bench cluster", days: 2 })
  return {
    ca,
    node: yield* Pki.issue(ca, { usage: "server", commonName: "bench", dnsNames: [], ipAddresses: ["127.0.0.1"] }, 2),
    reader: yield* Pki.issue(ca, { usage: "client", commonName: "bench", organization: "os:reader" }, 2)
  }
}))
provisionDisk(disk, { pki: { ca: pki.ca.cert, ...pki.node }, network: qemuUserNetwork })

const clientOf = (port: number) =>
  NodeApiClient.NodeApiClient.layer(`https://127.0.0.1:${port}/rpc`).pipe(
    Layer.provide(NodeMtlsClient.layer({ ca: pki.ca.cert, ...pki.reader }))
  )

/** keel-agent's own account of its start (its "serving" line: Node, modules, setup). */
const agentStart = (port: number) =>
  Effect.runPromise(
    Effect.scoped(Effect.flatMap(NodeApiClient.NodeApiClient, (c) => Stream.runCollect(c.StreamLogs({ service: "keel-agent", tail: 20, follow: false })))).pipe(
      Effect.map((lines) => Array.from(lines).map((l) => l.line).findLast((l) => l.includes("serving the node API")) ?? "(no serving line)"),
      Effect.provide(clientOf(port)),
      Effect.orElseSucceed(() => "(its log could not be read)")
    )
  )

/** A call that failed (nothing listening yet, the connection dropped, or no answer in time), for the timeline. */
type Attempt = { readonly startMs: number; readonly endMs: number; readonly outcome: string }

/** Milliseconds since `vm` started when the agent first answers WhoAmI, and the calls that failed on the way. */
const agentAnswers = async (vm: Vm, port: number) => {
  const client = clientOf(port)
  // A call the agent has accepted but not answered yet waits: the agent answers it as soon as its
  // start lets it (cutting it off after a second would count a slow first answer as none).
  const once = Effect.scoped(Effect.flatMap(NodeApiClient.NodeApiClient, (c) => c.WhoAmI())).pipe(Effect.provide(client), Effect.timeout("60 seconds"))
  const attempts: Array<Attempt> = []
  for (let i = 0; i < 1200; i++) {
    const startMs = performance.now() - vm.started
    const exit = await Effect.runPromiseExit(once)
    if (exit._tag === "Success") return { atMs: performance.now() - vm.started, attempts }
    const outcome = String(exit.cause).split("\n")[0]!.slice(0, 160)
    attempts.push({ startMs, endMs: performance.now() - vm.started, outcome })
    await new Promise((r) => setTimeout(r, 100))
  }
  throw new Error(`the agent did not answer:\n${vm.tail()}`)
}
const median = (values: ReadonlyArray<number>) => {
  const sorted = [...values].sort((a, b) => a - b)
  return sorted[Math.floor(sorted.length / 2)]!
}

const bootOnce = async (name: string, from: string) => {
  const port = await freePort()
  const vm = new Vm({ name, resultsDir: results, disk: from, boot: { _tag: "Bios" }, cpus, forwards: [{ host: port, guest: NodeApi.defaultPort }] })
  try {
    const init = await vm.waitFor(/^keel-init \S+ starting as pid 1$/, 120_000)
    const ready = await vm.waitFor(/keel-init: supervising/, 120_000)
    const { atMs: agent, attempts } = await agentAnswers(vm, port)
    console.log(`  ${name}: ${await agentStart(port)}`)
    // Where the time went: every console line with its time since QEMU started, and the host's calls
    // that failed (the last few: the ones while the agent came up).
    const at = (ms: number) => (ms / 1000).toFixed(2).padStart(7)
    const timeline = [
      ...vm.lines.map((l) => ({ ms: l.atMs, text: l.text })),
      ...attempts.slice(-8).map((a) => ({ ms: a.startMs, text: `(host) a call failed after ${((a.endMs - a.startMs) / 1000).toFixed(2)} s: ${a.outcome}` })),
      { ms: agent, text: "(host) the agent answered" }
    ].sort((a, b) => a.ms - b.ms)
    fs.writeFileSync(path.join(results, `${name}.timeline.txt`), timeline.map((l) => `${at(l.ms)} ${l.text}`).join("\n") + "\n")
    await vm.powerCut()
    return { init: init.atMs / 1000, ready: ready.atMs / 1000, agent: agent / 1000 }
  } finally {
    vm.kill()
  }
}

console.log(`boot bench: ${runs} boots under ${accelerator().toUpperCase()} with ${cpus} CPUs, SeaBIOS + GRUB; a first boot (it formats the data partition) is not counted`)
await bootOnce("warmup", disk)
const samples: Array<{ init: number; ready: number; agent: number }> = []
for (let i = 1; i <= runs; i++) {
  // Every counted boot starts from the disk as the warm-up left it: booting one disk again and again
  // would count each power cut as an unstable boot and soon measure maintenance mode instead.
  const sample = await bootOnce(`boot-${i}`, overlay(disk, path.join(results, `boot-${i}.qcow2`)))
  console.log(`boot ${i}: keel-init at ${sample.init.toFixed(2)} s, supervising at ${sample.ready.toFixed(2)} s, agent answering at ${sample.agent.toFixed(2)} s`)
  samples.push(sample)
}
const round = (n: number) => Number(n.toFixed(2))
const qemuToInit = round(median(samples.map((s) => s.init)))
const initReady = round(median(samples.map((s) => s.ready - s.init)))
const initToAgent = round(median(samples.map((s) => s.agent - s.init)))
const agentReady = round(median(samples.map((s) => s.agent)))
const imageMb = round(fs.statSync(image.osImage).size / (1 << 20))
console.log(`median: QEMU to keel-init ${qemuToInit} s; keel-init to supervising ${initReady} s; keel-init to the agent answering ${initToAgent} s; QEMU to the agent ${agentReady} s; OS image ${imageMb} MB (budget 100)`)
console.log(JSON.stringify({ qemu_to_init_s: qemuToInit, init_to_agent_s: initToAgent, agent_ready_s: agentReady, image_mb: imageMb, init_to_supervising_s: initReady }))
process.exit(0)
