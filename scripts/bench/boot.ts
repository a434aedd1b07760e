/**
 * `npm run bench -- boot` (issue #5): boots the image 5 times under QEMU through SeaBIOS and GRUB
 * (TCG unless kvm_intel/kvm_amd is loaded) and reports medians: QEMU start to keel-init's first line,
 * and to keel-init supervising (its control socket up). The agent's figures need the agent API
 * (issue #7) and print as null until then. Also the OS image size. Last line: one JSON object.
 */
import * as fs from "node:fs"
import * as path from "node:path"
import { ensureImage } from "../../images/src/build.ts"
import { accelerator, overlay, Vm } from "../../vm-tests/src/Qemu.ts"

const runs = Number(process.env["KEEL_BENCH_BOOTS"] ?? 5)
const root = path.resolve(import.meta.dirname, "..", "..")
const results = path.join(root, "results", "bench-boot")
const image = ensureImage()
const disk = overlay(image.disk, path.join(results, "disk.qcow2"))
const median = (values: ReadonlyArray<number>) => {
  const sorted = [...values].sort((a, b) => a - b)
  return sorted[Math.floor(sorted.length / 2)]!
}

const bootOnce = async (name: string) => {
  const vm = new Vm({ name, resultsDir: results, disk, boot: { _tag: "Bios" } })
  try {
    const init = await vm.waitFor(/^keel-init \S+ starting as pid 1$/, 120_000)
    const ready = await vm.waitFor(/keel-init: supervising/, 120_000)
    await vm.powerCut()
    return { init: init.atMs / 1000, ready: ready.atMs / 1000 }
  } finally {
    vm.kill()
  }
}

console.log(`boot bench: ${runs} boots under ${accelerator().toUpperCase()}, SeaBIOS + GRUB; a first boot formats the data partition and is not counted`)
await bootOnce("warmup")
const samples: Array<{ init: number; ready: number }> = []
for (let i = 1; i <= runs; i++) {
  const sample = await bootOnce(`boot-${i}`)
  console.log(`boot ${i}: keel-init at ${sample.init.toFixed(2)} s, supervising at ${sample.ready.toFixed(2)} s`)
  samples.push(sample)
}
const round = (n: number) => Number(n.toFixed(2))
const qemuToInit = round(median(samples.map((s) => s.init)))
const initReady = round(median(samples.map((s) => s.ready - s.init)))
const imageMb = round(fs.statSync(image.osImage).size / (1 << 20))
console.log(`median: QEMU to keel-init ${qemuToInit} s; keel-init to supervising ${initReady} s; OS image ${imageMb} MB (budget 100)`)
console.log("init_to_agent_s and agent_ready_s: null, the agent API is not built yet (issue #7)")
console.log(JSON.stringify({ qemu_to_init_s: qemuToInit, init_to_agent_s: null, agent_ready_s: null, image_mb: imageMb, init_to_supervising_s: initReady }))
